from ._map_plot import plot_stability_map as plot_stability_map
from ._threshold import threshold as threshold
from ._trajectory_plot import plot_trajectories as plot_trajectories
