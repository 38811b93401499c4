"""Train: fit y = w * x (the true w is 2) by gradient descent on the prepared numbers."""
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

xs = [float(v) for v in (Path(args.data) / "numbers.txt").read_text().split()]
w, lr = 0.0, 0.01
for epoch in range(args.epochs):
    grad = sum(2 * (w * x - 2 * x) * x for x in xs) / len(xs)
    w -= lr * grad  # a good place for a breakpoint
    print(f"epoch {epoch}: w={w:.4f}")
print(f"train: done, w={w:.4f}")
