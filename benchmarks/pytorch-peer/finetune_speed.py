#!/usr/bin/env python3
"""PyTorch peer for the fine-tuning speed benchmark (`make bench-train`).

Builds the same network the trainer fine-tunes -- the CNTK ImageNet ResNet-18 read from its ONNX graph (convolutions,
batch norms, ReLUs, residual adds, the max pool, CNTK's asymmetric padding), GeM, a 512-d linear neck with batch norm and
a sub-center ArcFace-style cosine head -- and times AdamW training steps on random images of the given size and batch.
Prints one line: `pytorch images/s=<x> size=<s> batch=<b> threads=<t> frozen=<f>`.
Uses Debian's python3-torch and python3-onnx; no weights are downloaded.
"""
import argparse
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


class GraphTrunk(nn.Module):
    def __init__(self, path):
        super().__init__()
        model = onnx.load(path)
        init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.input = [i.name for i in model.graph.input if i.name not in init][0]
        self.plan = []
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.stage_of_conv = []
        widths = []
        for node in model.graph.node:
            if node.op_type in ("AveragePool", "GlobalAveragePool", "Flatten", "Reshape"):
                break
            if node.op_type == "Conv":
                w = init[node.input[1]]
                conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=attr(node, "strides")[0], bias=False)
                conv.weight.data.copy_(torch.from_numpy(w.copy()))
                self.plan.append(("conv", len(self.convs), node.input[0], None, node.output[0],
                                  (attr(node, "pads"), w.shape[2], attr(node, "strides")[0])))
                self.convs.append(conv)
                if not self.stage_of_conv:
                    self.stage_of_conv.append(0)
                else:
                    if w.shape[0] not in widths:
                        widths.append(w.shape[0])
                    self.stage_of_conv.append(1 + widths.index(w.shape[0]))
            elif node.op_type == "BatchNormalization":
                bn = nn.BatchNorm2d(init[node.input[1]].shape[0], eps=attr(node, "epsilon", 1e-5))
                for name, idx in (("weight", 1), ("bias", 2), ("running_mean", 3), ("running_var", 4)):
                    getattr(bn, name).data.copy_(torch.from_numpy(init[node.input[idx]].copy()))
                self.plan.append(("bn", len(self.norms), node.input[0], None, node.output[0], len(self.convs) - 1))
                self.norms.append(bn)
            elif node.op_type == "Relu":
                self.plan.append(("relu", -1, node.input[0], None, node.output[0], None))
            elif node.op_type in ("Add", "Sum"):
                self.plan.append(("add", -1, node.input[0], node.input[1], node.output[0], None))
            elif node.op_type == "MaxPool":
                self.plan.append(("maxpool", -1, node.input[0], None, node.output[0],
                                  (attr(node, "pads"), attr(node, "kernel_shape")[0], attr(node, "strides")[0])))
            else:
                raise ValueError(node.op_type)
        self.output = self.plan[-1][4]

    @staticmethod
    def pad(x, pads, kernel, stride, value):
        top, left, bottom, right = pads
        if top == bottom and left == right:
            return x, (top, left)
        outputs = lambda size, b, e: (size + b + e - kernel) // stride + 1
        h, w = x.shape[2], x.shape[3]
        if outputs(h, top, bottom) == outputs(h, top, top) and outputs(w, left, right) == outputs(w, left, left):
            return x, (top, left)
        return F.pad(x, (left, right, top, bottom), value=value), (0, 0)

    def freeze(self, stages, freeze_bn):
        for i, conv in enumerate(self.convs):
            if self.stage_of_conv[i] < stages:
                conv.weight.requires_grad_(False)
        for kind, index, _, _, _, conv_index in self.plan:
            if kind == "bn" and self.stage_of_conv[conv_index] < stages:
                self.norms[index].weight.requires_grad_(False)
                self.norms[index].bias.requires_grad_(False)
        self.freeze_bn = freeze_bn

    def train(self, mode=True):
        super().train(mode)
        if mode and getattr(self, "freeze_bn", False):
            for bn in self.norms:
                bn.eval()
        return self

    def forward(self, x):
        values = {self.input: x}
        for kind, index, a, b, out, extra in self.plan:
            v = values[a]
            if kind == "conv":
                pads, kernel, stride = extra
                v, padding = self.pad(v, pads, kernel, stride, 0.0)
                v = F.conv2d(v, self.convs[index].weight, None, stride, padding)
            elif kind == "bn":
                v = self.norms[index](v)
            elif kind == "relu":
                v = F.relu(v)
            elif kind == "add":
                v = v + values[b]
            elif kind == "maxpool":
                pads, kernel, stride = extra
                v, padding = self.pad(v, pads, kernel, stride, float("-inf"))
                v = F.max_pool2d(v, kernel, stride, padding)
            values[out] = v
        return values[self.output]


class Network(nn.Module):
    def __init__(self, path, classes, dim=512, subcenters=3):
        super().__init__()
        self.trunk = GraphTrunk(path)
        self.p = nn.Parameter(torch.tensor(3.0))
        self.neck = nn.Linear(512, dim)
        self.neck_bn = nn.BatchNorm1d(dim)
        self.centres = nn.Parameter(torch.randn(classes * subcenters, dim) * 0.01)
        self.classes, self.k = classes, subcenters

    def forward(self, x, labels, scale=30.0, margin=0.3):
        f = self.trunk(x.flip(1) * 255.0)
        f = f.clamp(min=1e-6).pow(self.p).mean((2, 3)).pow(1.0 / self.p)
        e = self.neck_bn(self.neck(f))
        cos = F.linear(F.normalize(e), F.normalize(self.centres)).view(-1, self.classes, self.k).amax(2)
        theta = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
        target = torch.cos(theta + margin)
        one_hot = F.one_hot(labels, self.classes).bool()
        return torch.where(one_hot, target, cos) * scale


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frozen", type=int, default=2)
    parser.add_argument("--classes", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    net = Network(args.onnx, args.classes)
    net.trunk.freeze(args.frozen, True)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=1e-4)
    net.train()
    images = torch.rand(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, args.classes, (args.batch,))

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(net(images, labels), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 10.0)
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"pytorch images/s={args.batch * args.steps / elapsed:.2f} size={args.size} batch={args.batch} "
          f"threads={args.threads} frozen={args.frozen} torch={torch.__version__}")


if __name__ == "__main__":
    main()
