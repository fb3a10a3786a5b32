"""Torch's dropout, its mask drawn by a compiled copy of torch's generator (same numbers, 10× faster).

``torch.nn.Dropout(p)`` on a CPU tensor draws its mask with ``bernoulli_(1 - p)``: per element,
two outputs of the default generator's Mersenne Twister (mt19937) made into a 53-bit uniform
``u``, kept when ``u < 1 - p`` (double precision) — one element after the other, about 5 ns
each. In notebook 06's cold-start MLP (7,900 × 512 hidden units per epoch) that was a third of
an epoch. (In a MiniLM fine-tuning step, 19 dropout layers, it is 7 % by torch's profiler, but
swapping them for this one measured no faster end to end: not done.)

:class:`Dropout` computes exactly what ``torch.nn.Dropout`` computes — the same mask from the
same generator state, ``noise = mask / (1 - p)`` in float32, ``x * noise`` (so autograd's
backward is the same ``grad * noise``) — and leaves the generator exactly where torch would
have left it, so every later draw (the next epoch, a checkpoint's RNG state) is unchanged. The
noise comes in one pass (:func:`dropout_noise`: torch's kept value, ``1 / (1 - p)`` as its
``div_`` gives it, or 0) from :func:`_bernoulli`, a numba loop over the generator's state words
(``torch.get_rng_state()``'s layout: ``CPUGeneratorImplStateLegacy``). Before its first use in a
process, :func:`available` draws a mask both ways from the same state (across a state refill);
if they differ in one element (another torch, another generator), :class:`Dropout` uses
torch's own dropout. ``tests/test_torch_dropout.py`` compares the two on many states, sizes
and probabilities.

:class:`ReLUDropout` is ``torch.nn.ReLU()`` followed by this dropout in one pass each way (the
ReLU's pass, the multiplication and, backwards, the two passes of the gradient are one loop):
the same floats, as the loop does torch's operations element by element (``clamp_min(h, 0)``,
``· noise``; backwards ``grad · noise``, then 0 where the ReLU's output is ≤ 0).
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
import torch

__all__ = ["Dropout", "ReLUDropout", "available", "bernoulli_mask", "dropout_noise", "fused_available"]

N, M = 624, 397  # mt19937's state words and shift
MATRIX_A, UMASK, LMASK = np.uint32(0x9908B0DF), np.uint32(0x80000000), np.uint32(0x7FFFFFFF)
# torch.get_rng_state(): uint64 the_initial_seed, int32 left, int32 seeded, uint64 next, uint64 state[624], ...
STATE_BYTES, LEFT_AT, NEXT_AT, WORDS_AT = 5056, 8, 16, 24


@nb.njit(cache=True, nogil=True, inline="always")
def _twist(u, v):
    y = (u & UMASK) | (v & LMASK)
    return (y >> np.uint32(1)) ^ (MATRIX_A if v & np.uint32(1) else np.uint32(0))


@nb.njit(cache=True, nogil=True)
def _refill(mt):
    """mt19937's next state, in place (torch's ``mt19937_engine::next_state``)."""
    for i in range(N - M):
        mt[i] = mt[i + M] ^ _twist(mt[i], mt[i + 1])
    for i in range(N - M, N - 1):
        mt[i] = mt[i + M - N] ^ _twist(mt[i], mt[i + 1])
    mt[N - 1] = mt[M - 1] ^ _twist(mt[N - 1], mt[0])


@nb.njit(cache=True, nogil=True, inline="always")
def _temper(y):
    y ^= y >> np.uint32(11)
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    return y ^ (y >> np.uint32(18))


#: elements per pass of :func:`_bernoulli` (two generator outputs each: a 128 KiB buffer)
CHUNK = 16_384


@nb.njit(cache=True, nogil=True)
def _bernoulli(mt, left, nxt, n, threshold, one, out):
    """``out[:n]`` = the mask torch's ``bernoulli_(p)`` draws from state ``(mt, left, nxt)``
    (``threshold``: :func:`_threshold` of ``p``), ``one`` where it keeps and 0 where it drops;
    returns the state's new ``(left, nxt)`` (``mt`` refilled in place).

    torch draws one output at a time (``--left == 0`` refills, then ``mt[next++]``): from a state
    ``left - 1`` outputs are left before a refill. Here they are tempered a run at a time into a
    buffer (loops the compiler vectorises), and each element takes two: ``x`` = the 53 low bits
    of ``first << 32 | second``, kept when ``x < threshold``."""
    mask53 = np.uint64(9007199254740991)
    thr = np.uint64(threshold)
    zero = out.dtype.type(0)
    raw = np.empty(2 * CHUNK, np.uint32)
    rem, pos = left - 1, nxt
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        j = 0
        while j < 2 * m:
            if rem == 0:
                _refill(mt)
                rem, pos = N, 0
            take = min(rem, 2 * m - j)
            src, dst = mt[pos:pos + take], raw[j:j + take]  # views: indices from 0 (no wraparound checks)
            for t in range(take):
                dst[t] = _temper(src[t])
            j += take
            pos += take
            rem -= take
        dst = out[start:start + m]
        for i in range(m):
            x = ((np.uint64(raw[2 * i]) << np.uint64(32)) | np.uint64(raw[2 * i + 1])) & mask53
            dst[i] = one if x < thr else zero
    return rem + 1, pos


def _threshold(p: float) -> int:
    """The integer ``t`` with ``x · 2⁻⁵³ < p ⟺ x < t`` for every integer ``0 ≤ x < 2⁵³`` (torch
    compares the double ``u = x · 2⁻⁵³`` with ``p``; both scalings by 2⁵³ are exact)."""
    import math

    return int(min(max(math.ceil(float(p) * 9007199254740992.0), 0), 9007199254740992))


def _draw(n: int, p: float, one, dtype) -> np.ndarray:
    """``n`` elements of ``dtype``: ``one`` where torch's ``bernoulli_(p)`` would draw 1 from the
    default CPU generator now, 0 elsewhere; the generator is advanced exactly as that call would."""
    state = torch.get_rng_state()
    raw = state.numpy()
    if raw.size != STATE_BYTES:
        raise RuntimeError(f"unexpected torch generator state of {raw.size} bytes")
    words = raw[WORDS_AT:WORDS_AT + 8 * N].view(np.uint64)
    mt = words.astype(np.uint32)
    left = int(raw[LEFT_AT:LEFT_AT + 4].view(np.int32)[0])
    nxt = int(raw[NEXT_AT:NEXT_AT + 8].view(np.uint64)[0])
    out = np.empty(n, dtype)
    left, nxt = _bernoulli(mt, left, nxt, n, _threshold(p), out.dtype.type(one), out)
    words[:] = mt
    raw[LEFT_AT:LEFT_AT + 4].view(np.int32)[0] = left
    raw[NEXT_AT:NEXT_AT + 8].view(np.uint64)[0] = nxt
    torch.set_rng_state(state)
    return out


def bernoulli_mask(n: int, p: float) -> np.ndarray:
    """``uint8`` array of ``n``: what ``torch.empty(n).bernoulli_(p)`` would draw from the default
    CPU generator now; the generator is advanced exactly as that call would."""
    return _draw(n, p, 1, np.uint8)


@functools.lru_cache(maxsize=64)  # one per dropout probability, not once per forward
def _kept_value(keep: float) -> np.float32:
    """What torch's dropout noise holds where it keeps: ``1.0`` divided by ``keep`` in float32,
    taken from torch's own ``div_`` (its vectorised and its scalar tail alike)."""
    v = torch.ones(67).div_(keep)
    if not bool((v == v[0]).all()):
        raise RuntimeError("torch's float32 division is not uniform")
    return np.float32(v[0].item())


def dropout_noise(n: int, p: float) -> np.ndarray:
    """float32 array of ``n``: the noise ``torch.nn.Dropout(p)`` multiplies by, ``bernoulli_(1 −
    p)`` divided by ``1 − p`` (in one pass instead of a mask, a conversion and a division)."""
    return _draw(n, 1.0 - p, _kept_value(1.0 - p), np.float32)


_AVAILABLE: bool | None = None


def available() -> bool:
    """Whether :func:`bernoulli_mask` and :func:`dropout_noise` draw torch's masks and noise here
    (checked once per process, on a fork of the generator: 2,000 elements across a state refill,
    bit for bit; the generator is left as it was)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(20_240_601)
                ok = True
                for n, q in ((700, 0.1), (1_300, 0.63)):  # the first call refills; the second crosses one
                    before = torch.get_rng_state()
                    ours = bernoulli_mask(n, 1.0 - q)
                    after = torch.get_rng_state()
                    torch.set_rng_state(before)
                    theirs = torch.empty(n).bernoulli_(1.0 - q).numpy().astype(np.uint8)
                    ok = ok and np.array_equal(ours, theirs) and torch.equal(after, torch.get_rng_state())
                    torch.set_rng_state(before)  # the noise: torch's mask divided by the keep probability
                    ours = dropout_noise(n, q)
                    torch.set_rng_state(before)
                    theirs = torch.empty(n).bernoulli_(1.0 - q).div_(1.0 - q).numpy()
                    ok = ok and ours.tobytes() == theirs.tobytes()
        except Exception:  # noqa: BLE001 — any surprise means: use torch's own dropout
            ok = False
        _AVAILABLE = bool(ok)
    return _AVAILABLE


class Dropout(torch.nn.Module):
    """``torch.nn.Dropout(p)`` (same outputs, gradients and generator state), its mask drawn by
    :func:`bernoulli_mask` when :func:`available` (torch's own dropout otherwise, and in eval
    mode, for ``p`` 0 or 1 and for tensors that are not contiguous float32 on the CPU)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)

    def forward(self, x):
        p = self.p
        if (not self.training or p in (0.0, 1.0) or x.numel() == 0 or x.dtype != torch.float32
                or x.device.type != "cpu" or not x.is_contiguous() or not available()):
            return torch.nn.functional.dropout(x, p, self.training)
        noise = torch.from_numpy(dropout_noise(x.numel(), p)).view(x.shape)  # torch's mask / (1 − p)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}"


@nb.njit(cache=True, nogil=True)
def _relu_times(h, noise, y):
    """``y = relu(h) · noise`` as torch computes it: ``clamp_min(h, 0)`` (negatives become +0;
    NaN, +0 and −0 stay as they are), then the float32 product."""
    zero = np.float32(0)
    for i in range(h.size):
        v = h[i]
        y[i] = (zero if v < zero else v) * noise[i]


@nb.njit(cache=True, nogil=True)
def _relu_times_backward(g, h, noise, out):
    """The gradient of :func:`_relu_times` as torch's autograd computes it: the dropout's
    ``g · noise``, then ReLU's ``threshold_backward`` (+0 where ``relu(h) <= 0``)."""
    zero = np.float32(0)
    for i in range(g.size):
        v = h[i]
        out[i] = g[i] * noise[i] if (v > zero or v != v) else zero


class _ReLUTimes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, noise):
        y = torch.empty_like(h)
        _relu_times(h.detach().numpy().reshape(-1), noise.numpy().reshape(-1), y.numpy().reshape(-1))
        ctx.save_for_backward(h, noise)
        return y

    @staticmethod
    def backward(ctx, g):
        h, noise = ctx.saved_tensors
        g = g.contiguous()
        out = torch.empty_like(g)
        _relu_times_backward(g.numpy().reshape(-1), h.detach().numpy().reshape(-1), noise.numpy().reshape(-1),
                             out.numpy().reshape(-1))
        return out, None


_FUSED: bool | None = None


def fused_available() -> bool:
    """Whether :class:`ReLUDropout` runs its own loops here: :func:`available`, and the loops give
    torch's bits (checked once per process)."""
    global _FUSED
    if _FUSED is None:
        try:
            _FUSED = bool(available() and _fused_matches_torch())
        except Exception:  # noqa: BLE001 — any surprise means: torch's own ReLU and dropout
            _FUSED = False
    return _FUSED


def _fused_matches_torch() -> bool:
    """Whether :func:`_relu_times` and its backward give torch's bits here (negatives, ±0, NaN,
    ±inf, the kept value and 0 of the noise; forward and gradient)."""
    n = 75  # vectorised body and scalar tail alike
    h = torch.tensor([1.5, -2.0, 0.0, -0.0, float("nan"), float("inf"), -float("inf"), 3e-39, -3e-39, 0.25] * 8)[:n]
    noise = torch.tensor([1.25, 0.0, 1.25, 1.25, 1.25, 0.0, 1.25, 1.25, 0.0, 0.0] * 8)[:n].roll(3)
    g = torch.tensor([0.5, -1.0, 2.0, -0.0, 1.0, -3.0, 0.0, 7.0, -2.5, 1e-3] * 8)[:n].roll(5)
    a = h.clone().requires_grad_()
    (torch.relu(a) * noise).backward(g)
    b = h.clone().requires_grad_()
    y = _ReLUTimes.apply(b, noise)
    y.backward(g)
    theirs = (torch.relu(h) * noise).numpy().tobytes()
    return y.detach().numpy().tobytes() == theirs and b.grad.numpy().tobytes() == a.grad.numpy().tobytes()


class ReLUDropout(torch.nn.Module):
    """``torch.nn.ReLU()`` then :class:`Dropout` (``p``): the same outputs, gradients and generator
    state, in one pass forward and one backward (torch's own two layers where :class:`Dropout`
    would use torch's dropout)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)

    def forward(self, x):
        p = self.p
        if (not self.training or p in (0.0, 1.0) or x.numel() == 0 or x.dtype != torch.float32
                or x.device.type != "cpu" or not x.is_contiguous() or not fused_available()):
            return torch.nn.functional.dropout(torch.relu(x), p, self.training)
        noise = torch.from_numpy(dropout_noise(x.numel(), p)).view(x.shape)  # torch's mask / (1 − p)
        return _ReLUTimes.apply(x, noise)

    def extra_repr(self) -> str:
        return f"p={self.p}"
