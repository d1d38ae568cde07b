from ._simulate import simulate as simulate
from ._sweep import stability_sweep as stability_sweep
