"""gn.analyze on full-size architectures: ResNet-18 (torchvision's architecture, written in _any_module_models),
and Hugging Face BertModel and GPT2Model built from small configs (nothing is downloaded). Each formula,
per module and in total, is evaluated at three sizes and compared with torch's FlopCounterMode; the
receptive field of ResNet-18's last stage is compared with the extent of a measured input gradient."""
import copy
import logging

import pytest
import torch
from torch import nn

import glassnet as gn
from _any_module_models import check_rows, flop_counter_macs, resnet18, sdpa_macs



def test_resnet18_formulas_equal_flop_counter_per_module_at_three_image_sizes():
    model = resnet18().eval()
    report = gn.analyze(model, torch.randn(2, 3, 64, 64), dynamic={"x": {0: "B", 2: "H", 3: "W"}})
    assert report.totals["params"] == 11_689_512 == sum(p.numel() for p in model.parameters())
    assert report.row("conv1").macs_formula == "9408·B·(⌊(H-1)/2⌋+1)·(⌊(W-1)/2⌋+1)"
    for b, h, w in [(2, 64, 64), (1, 97, 75), (1, 128, 40)]:
        counted = flop_counter_macs(model, torch.randn(b, 3, h, w))
        assert check_rows(report, {"B": b, "H": h, "W": w}, counted) == len(report.rows) == 68
    assert report.at(B=1, H=224, W=224).totals["macs"] == 1_814_073_344  # ResNet-18's well-known 1.8 GMACs


def _input_gradient_extent(model, size):
    """Rows and columns of the input that the centre position of layer4's first channel depends on, from
    the gradient. Positive weights and inputs keep every path alive; the max pool is swapped for an
    average pool of the same window for this measurement only, since a max pool passes gradient to one
    position of its window and the extent would come out smaller than the field."""
    model = copy.deepcopy(model).eval()
    for p in model.parameters():
        with torch.no_grad():
            p.copy_(torch.rand_like(p) * 0.1 + 0.01)
    model.maxpool = nn.AvgPool2d(3, 2, 1)
    x = torch.rand(1, 3, size, size, requires_grad=True)
    stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    out = model.layer4(model.layer3(model.layer2(model.layer1(stem))))
    c = out.shape[-1] // 2
    out[0, 0, c, c].backward()
    hit = x.grad[0].abs().sum(0) > 0
    rows, cols = torch.nonzero(hit.any(1)).flatten(), torch.nonzero(hit.any(0)).flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_resnet18_receptive_field_of_the_last_stage_equals_the_measured_gradient_extent():
    model = resnet18(width=4)  # the field depends on the windows, not on the widths
    report = gn.analyze(model, torch.randn(1, 3, 64, 64), dynamic={"x": {2: "H", 3: "W"}})
    assert report.row("layer4").receptive_field == _input_gradient_extent(model, 512) == (435, 435)
    assert [report.row(f"layer{i}").receptive_field[0] for i in (1, 2, 3)] == [43, 99, 211]


@pytest.fixture(scope="module")
def transformers():
    module = pytest.importorskip("transformers")
    logging.getLogger("transformers").setLevel(logging.ERROR)  # small vocabularies make it warn about token ids
    return module


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_hugging_face_models_have_t_and_t_squared_terms_equal_to_flop_counter(transformers, family):
    heads, width, n_layers = 4, 64, 2
    if family == "bert":
        cfg = transformers.BertConfig(num_hidden_layers=n_layers, hidden_size=width, num_attention_heads=heads,
                                      intermediate_size=128, vocab_size=1000, max_position_embeddings=128)
        model = transformers.BertModel(cfg).eval()
        attention = [f"encoder.layer.{i}.attention.self" for i in range(n_layers)]
    else:
        cfg = transformers.GPT2Config(n_layer=n_layers, n_embd=width, n_head=heads, vocab_size=1000, n_positions=128,
                                      use_cache=False)
        model = transformers.GPT2Model(cfg).eval()
        attention = [f"h.{i}.attn" for i in range(n_layers)]
    ids = torch.randint(0, 1000, (2, 16))
    report = gn.analyze(model, {"input_ids": ids}, dynamic={"input_ids": {0: "B", 1: "T"}})
    assert report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert report.rows[0].macs_formula.startswith(f"{n_layers * 2 * width}·B·T² + ")  # q·kᵀ and weights·v per layer
    for b, t in [(2, 16), (1, 37), (3, 64)]:
        counted = flop_counter_macs(model, torch.randint(0, 1000, (b, t)))
        # FlopCounterMode counts 0 for scaled_dot_product_attention in torch 2.13: the term is added by hand
        check_rows(report, {"B": b, "T": t}, counted, attention, sdpa_macs(b * heads, t, t, width // heads))
    if family == "bert":  # its position_ids buffer has 128 entries, sliced to T
        (c,) = report.constraints
        assert c.text == "T ≤ 128" and "self.position_ids[:," in c.code and c.module == "embeddings"
        assert c.where.endswith("(BertEmbeddings.forward)") and "modeling_bert.py:" in c.where
