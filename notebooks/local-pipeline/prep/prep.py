"""Prepare data: write the numbers the training step fits."""
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
args = parser.parse_args()

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
(out / "numbers.txt").write_text("\n".join(str(n) for n in [3, 1, 4, 1, 5, 9, 2, 6]))
print(f"prep: wrote 8 numbers to {out}")
