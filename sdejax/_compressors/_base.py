"""The compressor interface (docs/theory.md §3)."""

from __future__ import annotations

import abc
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class CovarianceStructure(NamedTuple):
    """Cov_C(C(x)) = Diag(``diagonal`` · x∘x) − ``rank_one`` · x xᵀ for every fixed x.

    ``rank_one`` is a Python float when it is known without tracing (0.0 for coordinate-wise
    compressors), so callers can pick a diagonal fast path statically.
    """

    diagonal: object
    rank_one: object


class AbstractCompressor(eqx.Module):
    """A (possibly random) map C: R^d -> R^d applied by each worker to its gradient.

    Declares its guarantees the way diffrax solvers declare their order:

    - ``is_unbiased`` (E C(x) = x) and ``omega(d)``, the constant of the class U(ω):
      E‖C(x) − x‖² <= ω‖x‖². Biased compressors return ``inf`` from ``omega``.
    - ``has_linear_second_moment``: whether the second moment *closes*, i.e. for a random input
      g with E[g gᵀ] = G the second moment E[C(g) C(g)ᵀ] = S_C(G) is a linear function of G
      alone (whatever the law of g). Then:

      * ``second_moment(G)`` is S_C(G) for a (d, d) matrix G;
      * ``second_moment_diagonal(g)`` is the diagonal of S_C(Diag(g)) for a d-vector g
        (S_C maps diagonal matrices to diagonal matrices);
      * ``covariance_structure(d)`` gives (e, c) with Cov_C(C(x)) = Diag(e x∘x) − c x xᵀ, so
        S_C(G) = (1 − c) G + e Diag(diag G) and 1 + ω = 1 − c + e (docs/theory.md §3).

      S_C commutes with coordinate sign flips (S_C(D G D) = D S_C(G) D for D = Diag(±1)):
      the compressors multiply coordinates by a random mask drawn independently of g. The
      exact second-moment analysis (``sdejax.theory``) and the DCSGD SDE diffusion are built
      from these declarations. Compressors whose variance is not quadratic in the input
      (natural compression, random dithering) and biased ones (sign, top-k) do not close and
      raise from these methods.
    - ``has_diagonal_covariance``: Cov_C(C(x)) is diagonal for every x, and ``variance(x)`` gives
      its diagonal for a fixed x.
    - ``is_positively_homogeneous``: C(c x) = c C(x) for every c > 0, with the same randomness
      (identity, Bernoulli, rand-k, top-k, random dithering; not sign, nor natural compression,
      which rounds to powers of 2). DCSGD with such a compressor separates additive forcing
      from its homogeneous dynamics (``AbstractAlgorithm.separates_forcing``).

    ``__call__(key, x)`` acts on one worker's flat vector x of shape (d,); vmap it over workers.
    """

    is_unbiased: eqx.AbstractClassVar[bool]
    has_linear_second_moment: ClassVar[bool] = False
    # True when Cov_C(C(x)) is diagonal for every x (coordinates compressed independently).
    has_diagonal_covariance: ClassVar[bool] = False
    is_positively_homogeneous: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(self, key: PRNGKeyArray, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """Compress one vector."""

    @abc.abstractmethod
    def omega(self, d: int):
        """ω such that E‖C(x) − x‖² <= ω‖x‖² (``inf`` when no such ω exists)."""

    def check_dim(self, d: int) -> None:
        """Raise a clear error if this compressor cannot act on vectors of length ``d``."""

    def variance(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """Diagonal of Cov_C(C(x)) for a fixed x (unbiased compressors)."""
        raise NotImplementedError(f"{type(self).__name__} does not declare its variance.")

    # ------------------------------------------------------------------ second moments
    def covariance_structure(self, d: int) -> CovarianceStructure:
        """(e, c) with Cov_C(C(x)) = Diag(e x∘x) − c x xᵀ (compressors whose moments close)."""
        raise ValueError(
            f"{type(self).__name__}: the second moments do not close (E[C(g)C(g)ᵀ] is not a linear "
            "function of E[g gᵀ]); no exact second-moment map exists."
        )

    def second_moment(self, second_moment: Float[Array, "d d"]) -> Float[Array, "d d"]:
        """S_C(G) = E[C(g) C(g)ᵀ] for E[g gᵀ] = G: (1 − c) G + e Diag(diag G)."""
        e, c = self.covariance_structure(second_moment.shape[-1])
        diagonal = jnp.diagonal(second_moment)
        return (1.0 - c) * second_moment + jnp.diag(e * diagonal)

    def second_moment_diagonal(self, diagonal: Float[Array, " d"]) -> Float[Array, " d"]:
        """diag S_C(Diag(g)) = (1 − c + e) g for a d-vector g."""
        e, c = self.covariance_structure(diagonal.shape[-1])
        return (1.0 - c + e) * diagonal


def _zero_safe(x):
    return jnp.where(x == 0, 1.0, x)
