from ._base import AbstractCompressor as AbstractCompressor, CovarianceStructure as CovarianceStructure
from ._bernoulli import BernoulliSparsifier as BernoulliSparsifier
from ._dithering import RandomDithering as RandomDithering
from ._identity import Identity as Identity
from ._natural import NaturalCompression as NaturalCompression
from ._rand_k import RandK as RandK
from ._sign import Sign as Sign
from ._top_k import TopK as TopK
