from ._simulate import simulate as simulate
from ._sweep import stability_sweep as stability_sweep
from ._threshold import threshold as threshold
