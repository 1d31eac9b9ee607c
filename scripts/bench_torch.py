"""PyTorch twin of examples/train_speed.rs: the same networks as src/model/ (small CNN,
medium CNN, CIFAR ResNet-18), the same batch of random 32x32 images, the same two modes
(`train`: crop/flip + forward + backward + SGD(momentum 0.9, wd 5e-4, per-tensor clip 5);
`delta`: EM's delta-step, frozen network, tempered cross-entropy, gradient sign w.r.t. the
input only). Prints `RESULT <mode> <model> <batch> <images/s>`.
Usage: python bench_torch.py MODEL BATCH STEPS MODE   (threads: TORCH_THREADS, default 2;
TORCH_DEVICE=cuda runs on a GPU, each step ending in a synchronize; WARMUP untimed steps, default 2)"""
import os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(i, o, stride=1, k=3):
    return [nn.Conv2d(i, o, k, stride, k // 2, bias=False), nn.BatchNorm2d(o)]


class SmallCnn(nn.Module):
    def __init__(self, n=10):
        super().__init__()
        layers, c = [], 3
        for idx, o in enumerate([32, 64, 128]):
            layers += conv_bn(c, o, 1 if idx == 0 else 2) + [nn.ReLU()]
            c = o
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(128, n)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class MediumCnn(nn.Module):
    def __init__(self, n=10):
        super().__init__()
        r = lambda i, o: conv_bn(i, o) + [nn.ReLU()]
        self.body = nn.Sequential(*r(3, 32), nn.MaxPool2d(2), *r(32, 64), *r(64, 64),
                                  nn.MaxPool2d(2), *r(64, 128), *r(128, 128))
        self.head = nn.Linear(512, n)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.body(x), 2).flatten(1))


class Block(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.c1, self.b1 = conv_bn(i, o, s)
        self.c2, self.b2 = conv_bn(o, o)
        self.down = nn.Sequential(*conv_bn(i, o, s, 1)) if s != 1 or i != o else None

    def forward(self, x):
        idt = self.down(x) if self.down is not None else x
        h = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(h)) + idt)


class ResNet18(nn.Module):
    def __init__(self, n=10, w=64):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, w), nn.ReLU())
        blocks, c = [], w
        for st, m in enumerate([1, 2, 4, 8]):
            blocks += [Block(c, w * m, 1 if st == 0 else 2), Block(w * m, w * m, 1)]
            c = w * m
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c, n)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1))


def tempered(z):
    t = z.detach().abs().max().div(8.0).clamp_min(1.0)
    return z / t


def crop_flip(x, pad=4):
    b, _, h, w = x.shape
    p = F.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = torch.randint(0, 2 * pad + 1, (2,)).tolist()  # host RNG, as Burn's twin
        c = p[i, :, dy:dy + h, dx:dx + w]
        out[i] = c.flip(2) if torch.rand(()) < 0.5 else c
    return out


def main():
    name, batch, steps, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(1)
    dev = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
    warmup = int(os.environ.get("WARMUP", "2"))
    model = {"small-cnn": SmallCnn, "medium-cnn": MediumCnn, "resnet18": ResNet18}[name]().to(dev)
    x0 = torch.rand(batch, 3, 32, 32).to(dev)
    y = (torch.arange(batch) % 10).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    if mode == "delta":
        for p in model.parameters():
            p.requires_grad_(False)
    total = 0.0
    for s in range(steps + warmup):
        t0 = time.perf_counter()
        if mode == "delta":
            x = x0.clone().requires_grad_(True)
            loss = F.cross_entropy(tempered(model(x)), y)
            (g,) = torch.autograd.grad(loss, x)
            g.sign()
        else:
            loss = F.cross_entropy(model(crop_flip(x0)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for p in model.parameters():
                torch.nn.utils.clip_grad_norm_([p], 5.0)
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if s >= warmup:
            total += time.perf_counter() - t0
    print(f"RESULT {mode} {name} {batch} {batch * steps / total:.1f}")


if __name__ == "__main__":
    main()
