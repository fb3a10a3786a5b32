"""recutils.torch_dropout: torch.nn.Dropout to the bit (outputs, gradients, the
generator's state afterwards), its mask drawn by a compiled copy of torch's mt19937 path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from recutils import torch_dropout as D  # noqa: E402


def test_the_compiled_mask_is_torchs_here():
    assert D.available()  # this torch draws bernoulli_(p) as the module copies it: the fast path is on


@pytest.mark.parametrize("seed", [0, 42, 2**31 + 5])
def test_masks_and_generator_state_match_torch_across_refills(seed):
    torch.manual_seed(seed)
    torch.rand(int(np.random.default_rng(seed).integers(0, 700)))  # start anywhere in the state
    # sizes around one state (624 outputs = 312 elements) and CHUNK, and odd probabilities
    for n, p in [(1, 0.9), (311, 0.9), (312, 0.5), (313, 0.1), (624, 0.9), (1_000, 0.37), (D.CHUNK - 1, 0.9),
                 (D.CHUNK + 313, 0.63), (3 * D.CHUNK + 7, 0.999), (5_000, 0.0), (5_000, 1.0), (4_321, 2.0**-30)]:
        before = torch.get_rng_state()
        ours = D.bernoulli_mask(n, p)
        after = torch.get_rng_state()
        torch.set_rng_state(before)
        theirs = torch.empty(n).bernoulli_(p).numpy().astype(np.uint8)
        assert np.array_equal(ours, theirs), (n, p)
        assert torch.equal(after, torch.get_rng_state()), (n, p)


@pytest.mark.parametrize("q", [0.1, 0.05, 0.3, 0.63, 1 / 3])
def test_noise_is_torchs_mask_divided_by_the_keep_probability_bit_for_bit(q):
    torch.manual_seed(7)
    for n in (1, 313, 5_000, D.CHUNK + 5):
        before = torch.get_rng_state()
        ours = D.dropout_noise(n, q)
        after = torch.get_rng_state()
        torch.set_rng_state(before)
        theirs = torch.empty(n).bernoulli_(1.0 - q).div_(1.0 - q).numpy()
        assert ours.dtype == np.float32 and ours.tobytes() == theirs.tobytes()  # signed zeros included
        assert torch.equal(after, torch.get_rng_state())


def test_threshold_is_the_exact_integer_form_of_u_below_p():
    for p in (0.9, 0.1, 0.37, 1 / 3, 0.5, 2.0**-53, 0.0, 1.0, 1 - 2.0**-53):
        t = D._threshold(p)
        for x in {max(t - 1, 0), t, min(t + 1, 2**53 - 1), 0, 2**53 - 1}:
            assert (x * 2.0**-53 < p) == (x < t), (p, x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.0, 1.0])
def test_module_equals_torch_dropout_forward_backward_and_rng(p):
    torch.manual_seed(3)
    x0 = torch.randn(257, 129)
    got = {}
    for name, layer in (("torch", torch.nn.Dropout(p)), ("ours", D.Dropout(p))):
        x = x0.clone().requires_grad_(True)
        torch.manual_seed(11)
        y = layer(x)
        (y * torch.arange(y.numel()).view(y.shape)).sum().backward()
        got[name] = (y.detach(), x.grad, torch.get_rng_state(), torch.rand(3))
    for a, b in zip(got["torch"], got["ours"]):
        assert torch.equal(a, b)


def test_eval_mode_and_unusual_inputs_fall_back_to_torch():
    layer = D.Dropout(0.3)
    x = torch.randn(40, 30)
    layer.eval()
    assert torch.equal(layer(x), x)
    layer.train()
    xt = x.t()  # not contiguous: torch's own dropout
    torch.manual_seed(1)
    a = layer(xt)
    torch.manual_seed(1)
    b = torch.nn.functional.dropout(xt, 0.3, True)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="between 0 and 1"):
        D.Dropout(1.5)
    assert "p=0.3" in repr(layer)



def test_fused_relu_dropout_is_on_here():
    assert D.fused_available()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.0, 1.0])
def test_relu_dropout_equals_torch_relu_then_dropout(p):
    """Forward, gradient (bitwise, signed zeros included), generator state and later draws; the
    input holds negatives, ±0, NaN and ±inf as well as ordinary values."""
    torch.manual_seed(5)
    x0 = torch.randn(301, 67)
    flat = x0.view(-1)
    flat[::97], flat[1::89], flat[2::211] = -0.0, 0.0, float("nan")
    flat[3::307], flat[4::401] = float("inf"), -float("inf")
    w = torch.randn(x0.shape)
    w.view(-1)[::13] = -0.0
    got = {}
    for name, layer in (("torch", torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Dropout(p))), ("ours", D.ReLUDropout(p))):
        x = x0.clone().requires_grad_(True)
        torch.manual_seed(17)
        y = layer(x)
        y.backward(w)
        got[name] = (y.detach(), x.grad, torch.get_rng_state(), torch.rand(3))
    for a, b in zip(got["torch"], got["ours"]):
        assert a.numpy().tobytes() == b.numpy().tobytes()


def test_relu_dropout_trains_a_network_as_torch_does():
    """An MLP trained 25 Adam steps with ReLUDropout and with torch's ReLU + Dropout: the same
    weights to the bit, the generator in the same place."""
    torch.manual_seed(0)
    X, Y = torch.randn(513, 37), torch.randn(513, 5)
    out = {}
    for name in ("torch", "ours"):
        torch.manual_seed(1)
        mid = [D.ReLUDropout(0.2)] if name == "ours" else [torch.nn.ReLU(), torch.nn.Dropout(0.2)]
        net = torch.nn.Sequential(torch.nn.Linear(37, 64), *mid, torch.nn.Linear(64, 5))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(25):
            loss = torch.mean((net(X) - Y) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[name] = ([q.detach().clone() for q in net.parameters()], torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(out["torch"][0], out["ours"][0]))
    assert torch.equal(out["torch"][1], out["ours"][1])


def test_relu_dropout_eval_mode_and_unusual_inputs_fall_back_to_torch():
    layer = D.ReLUDropout(0.3)
    x = torch.randn(40, 30)
    layer.eval()
    assert torch.equal(layer(x), torch.relu(x))
    layer.train()
    xt = x.t()
    torch.manual_seed(1)
    a = layer(xt)
    torch.manual_seed(1)
    assert torch.equal(a, torch.nn.functional.dropout(torch.relu(xt), 0.3, True))
    with pytest.raises(ValueError, match="between 0 and 1"):
        D.ReLUDropout(-0.1)
    assert "p=0.3" in repr(layer)
