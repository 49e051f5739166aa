import torch

from lab3.compress import gptq
from lab3.compress.quantize import Scheme, choose_qparams, linear_layers, quantize_codes
from tests.helpers import tiny_model


def test_diagonal_hessian_means_plain_rounding():
    torch.manual_seed(0)
    w = torch.randn(12, 20)
    qp = choose_qparams(w, 3, "maxabs", "channel", "lab")
    codes = gptq.gptq_layer(w, torch.eye(20, dtype=torch.float64), qp, block=8, damp=0.0)
    assert torch.equal(codes, quantize_codes(w, qp))


def test_error_compensation_lowers_output_error():
    torch.manual_seed(0)
    mix = torch.randn(24, 24)
    x = torch.randn(2000, 24) @ mix  # correlated inputs
    w = torch.randn(10, 24)
    qp = choose_qparams(w, 3, "mse", "channel", "lab")
    rtn = quantize_codes(w, qp).float() * qp.scale
    comp = gptq.gptq_layer(w, gptq.hessian(x), qp, block=8).float() * qp.scale
    def err(wq):
        return (x @ (w - wq).T).pow(2).mean()
    assert err(comp) < 0.8 * err(rtn)


def test_gptq_quantize_model_codes_in_range():
    m = tiny_model()
    calib = torch.randn(256, 1, 28, 28)
    qm, codes = gptq.gptq_quantize(m, Scheme(bits=4, method="mse", granularity="channel", levels="lab"), calib)
    for name, layer in linear_layers(qm):
        c, qp = codes[name]
        assert c.dtype == torch.int32 and int(c.min()) >= qp.qmin and int(c.max()) <= qp.qmax
        assert torch.equal(layer.weight, c.float() * qp.scale)
    assert not torch.equal(qm.fc1.weight, m.fc1.weight)
    # fc1 sees the calibration images themselves: GPTQ's output error there is below plain rounding's
    x = calib.flatten(1)
    rtn = Scheme(bits=4, method="mse", granularity="channel", levels="lab").qparams(m.fc1.weight.detach())
    rounded = quantize_codes(m.fc1.weight.detach(), rtn).float() * rtn.scale

    def err(wq):
        return (x @ (m.fc1.weight.detach() - wq).T).pow(2).mean()

    assert err(qm.fc1.weight.detach()) < 0.9 * err(rounded)


def test_hessian():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.allclose(gptq.hessian(x), torch.tensor([[10.0, 14.0], [14.0, 20.0]], dtype=torch.float64))
