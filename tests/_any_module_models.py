"""Plain torch models for the any-module analysis tests, and torch's own counts to check them against.

``resnet18`` is written here to torchvision's architecture (torchvision.models.resnet: BasicBlock with
the stride on its first 3×3 convolution and a 1×1 convolution + BatchNorm shortcut when the shape
changes; a 7×7/2 stem and a 3×3/2 max pool; stages of 2, 2, 2, 2 blocks; global average pool and fc),
with the stem width as a parameter.
"""
import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(2, 2, 2, 2), num_classes=1000, width=64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(width=64, num_classes=1000):
    return ResNet((2, 2, 2, 2), num_classes, width)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, stride=2, dilation=2, groups=2), nn.ReLU(),
        nn.ConvTranspose2d(32, 8, 2, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def flop_counter_macs(model, *args, meta=False, **kwargs):
    """torch's FlopCounterMode per module, as MACs (its FLOPs ÷ 2), keyed by module path ("" = the model).
    ``meta=True`` runs a copy on the meta device (the CPU LSTM kernel has no flop formula; on meta it
    decomposes into matrix products torch counts)."""
    if meta:
        model = copy.deepcopy(model).to("meta")
        args = tuple(a.to("meta") for a in args)
    with FlopCounterMode(display=False) as counter:
        model(*args, **kwargs)
    root = type(model).__name__
    out = {}
    for key, ops in counter.get_flop_counts().items():
        if key == "Global":
            continue
        path = "" if key == root else key[len(root) + 1:]
        out[path] = sum(ops.values()) // 2
    out.setdefault("", sum(counter.get_flop_counts().get("Global", {}).values()) // 2)
    return out


def sdpa_macs(batch_heads, L, S, E):
    """What FlopCounterMode (torch 2.13, CPU) leaves out: scaled_dot_product_attention counts 0 there, so
    the tests add its two matrix products by hand: q·kᵀ and weights·v, batch·heads·L·S·E each."""
    return 2 * batch_heads * L * S * E


def check_rows(report, sizes, counted, attention=None, attention_macs=0):
    """Every row evaluated at ``sizes`` equals torch's count for that module, plus ``attention_macs``
    for each attention module at or under it (``attention``: paths of the modules that call SDPA)."""
    at = report.at(**sizes)
    root = report.model_name
    checked = 0
    for row in at.rows:
        path = "" if row.name == root else row.name
        n_attention = sum(1 for a in (attention or ()) if path == "" or a == path or a.startswith(path + "."))
        assert row.macs == counted.get(path, 0) + n_attention * attention_macs, (row.name, sizes)
        checked += 1
    missing = set(counted) - {"" if r.name == root else r.name for r in at.rows}
    assert not {m for m in missing if counted[m]}, missing
    assert at.totals["macs"] == counted[""] + len(attention or ()) * attention_macs
    return checked
