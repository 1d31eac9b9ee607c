"""PyTorch twin of examples/op_times.rs: per-operation timings at the medium CNN's shapes
(batch 64), forward + backward, same shapes and order of lines.

Usage: TORCH_THREADS=2 ~/.cache/unlearnable-bench-venv/bin/python scripts/op_times_torch.py [REPS]
(the venv is the one scripts/bench-vs-pytorch.sh installs).
"""
import os
import sys
import time

import torch

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def time_it(name, f):
    f()
    start = time.perf_counter()
    for _ in range(REPS):
        f()
    print(f"{name:36} {(time.perf_counter() - start) / REPS * 1e3:7.2f} ms")


N = 64
for c, o, h in [(3, 32, 32), (32, 64, 16), (64, 64, 16), (64, 128, 8), (128, 128, 8)]:
    conv = torch.nn.Conv2d(c, o, 3, padding=1, bias=False)
    x = torch.rand(N, c, h, h)
    xg = x.clone().requires_grad_()
    with torch.no_grad():
        time_it(f"conv fwd {c}->{o} @{h}", lambda: conv(x))
    time_it(f"conv fwd+bwd(w) {c}->{o} @{h}", lambda: conv(x).sum().backward())
    time_it(f"conv fwd+bwd(w,x) {c}->{o} @{h}", lambda: conv(xg).sum().backward())
    bn = torch.nn.BatchNorm2d(o)
    z = torch.rand(N, o, h, h).requires_grad_()
    time_it(f"bn+relu fwd+bwd {o} @{h}", lambda: torch.relu(bn(z)).sum().backward())
    if h > 8:
        time_it(f"maxpool fwd+bwd {o} @{h}",
                lambda: torch.nn.functional.max_pool2d(z, 2).sum().backward())
