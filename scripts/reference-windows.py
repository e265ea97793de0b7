#!/usr/bin/env python3
"""Calibration windows drawn the way the reference code (SparseGPT / LLM Surgeon datautils) draws
them: random.seed(SEED), then for each window i = random.randint(0, len(ids) - seqlen - 1) over the
token ids of the calibration text (rows joined with a space, the default special tokens), written as
a surgeon --ids-file (a JSON array of windows of token ids).

usage: scripts/reference-windows.py SURGEON MODEL TEXT NSAMPLES SEQLEN SEED OUT.json
(NSAMPLES counts every window: `compress --ids-file` holds out the last --held-out of them.)
"""
import json, random, subprocess, sys, tempfile

surgeon, model, text, n, seqlen, seed, out = sys.argv[1:8]
n, seqlen, seed = int(n), int(seqlen), int(seed)
# Hugging Face datasets rows of a wiki.*.raw file: lines keeping their "\n", a blank line " \n" -> ""
content = open(text, encoding="utf-8").read()
pieces = content.split("\n")
last = pieces.pop()   # "" when the file ends with "\n"
rows = ["" if p == " " else p + "\n" for p in pieces] + ([last] if last else [])
with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
    f.write(" ".join(rows))
    joined = f.name
ids = json.loads(subprocess.run([surgeon, "tokenize", "-m", model, "-f", joined, "--json"], check=True,
                                capture_output=True, text=True).stdout)["ids"]
random.seed(seed)
windows = []
for _ in range(n):
    i = random.randint(0, len(ids) - seqlen - 1)
    windows.append(ids[i:i + seqlen])
json.dump(windows, open(out, "w"))
print(f"{n} windows of {seqlen} tokens from {len(ids)} tokens of {text} (seed {seed}) -> {out}")
