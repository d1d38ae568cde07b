from ._affine import AffineGaussianNoise as AffineGaussianNoise
from ._base import AbstractNoise as AbstractNoise
from ._gaussian import GaussianNoise as GaussianNoise
from ._student_t import StudentTNoise as StudentTNoise
