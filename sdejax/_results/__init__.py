from ._plots import plot_stability_map as plot_stability_map, plot_trajectories as plot_trajectories
from ._threshold import threshold as threshold
