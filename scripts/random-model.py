#!/usr/bin/env python3
"""Writes a random-init Llama-shaped model as a Hugging Face directory in BF16 (issue 16's scale
test model): config.json, model.safetensors, and the Llama-2 SentencePiece tokenizer from
../shared/fixtures (vocab 32000) when the vocabulary is 32000. Standard library only.

Random weights make perplexity meaningless; memory and time are real. Matrices hold values of
magnitude 2^-7..2^-5 with random signs (an init of scale ~0.02), norms hold 1.0.

usage: scripts/random-model.py CONFIG -o DIR [--seed S]
  CONFIG: tinyllama-1.1b, llama-2-7b, or a config.json path (LlamaForCausalLM fields)
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys

PRESETS = {
    # TinyLlama-1.1B: 22 layers, hidden 2048, 32 heads, 4 kv heads, intermediate 5632, vocab 32000
    "tinyllama-1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048, rope_theta=10000.0,
                           rms_norm_eps=1e-5, tie_word_embeddings=False),
    "llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rope_theta=10000.0,
                       rms_norm_eps=1e-5, tie_word_embeddings=False),
}

# bf16 little-endian: byte 1 = sign and the high 7 exponent bits, byte 0 = the low exponent bit and
# 7 mantissa bits. High byte 0x3C / 0xBC with any low byte: ±[2^-7, 2^-5).
HIGH = bytes((0xBC if b & 0x80 else 0x3C) for b in range(256))
ONE = struct.pack("<H", 0x3F80)


def config_of(arg):
    if arg in PRESETS:
        c = dict(PRESETS[arg])
    else:
        with open(arg) as f:
            c = json.load(f)
    for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        v = c.get(k)
        if not isinstance(v, int) or not (1 <= v <= 1 << 20):
            sys.exit(f"error: {k} must be an integer in 1...{1 << 20} (got {v!r})")
    c.setdefault("num_key_value_heads", c["num_attention_heads"])
    if c["hidden_size"] % c["num_attention_heads"] or c["num_attention_heads"] % c["num_key_value_heads"]:
        sys.exit("error: hidden_size must divide into num_attention_heads, and those into num_key_value_heads")
    c.update(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu", torch_dtype="bfloat16",
             bos_token_id=1, eos_token_id=2, attention_bias=False, mlp_bias=False)
    c.setdefault("max_position_embeddings", 2048)
    c.setdefault("rms_norm_eps", 1e-5)
    c.setdefault("rope_theta", 10000.0)
    c.setdefault("tie_word_embeddings", False)
    return c


def tensors(c):
    """(name, shape) in the Hugging Face layout."""
    H, I, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    d = H // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * d
    out = [("model.embed_tokens.weight", [c["vocab_size"], H])]
    for i in range(L):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", [H]), (p + "self_attn.q_proj.weight", [H, H]),
                (p + "self_attn.k_proj.weight", [kv, H]), (p + "self_attn.v_proj.weight", [kv, H]),
                (p + "self_attn.o_proj.weight", [H, H]), (p + "post_attention_layernorm.weight", [H]),
                (p + "mlp.gate_proj.weight", [I, H]), (p + "mlp.up_proj.weight", [I, H]), (p + "mlp.down_proj.weight", [H, I])]
    out.append(("model.norm.weight", [H]))
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", [c["vocab_size"], H]))
    return out


def random_bf16(n, rng):
    b = bytearray(rng.randbytes(2 * n))
    b[1::2] = bytes(b[1::2]).translate(HIGH)
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    c = config_of(a.config)
    if os.path.exists(a.output):
        sys.exit(f"error: {a.output} exists; choose another -o")
    tmp = a.output + f".tmp-{os.getpid()}"
    os.makedirs(tmp)
    try:
        items, offset = {}, 0
        specs = tensors(c)
        for name, shape in specs:
            n = math.prod(shape)
            items[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + 2 * n]}
            offset += 2 * n
        items["__metadata__"] = {"format": "pt"}
        header = json.dumps(items, separators=(",", ":")).encode()
        header += b" " * (-len(header) % 8)
        rng = random.Random(a.seed)
        with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
            for name, shape in specs:
                n = math.prod(shape)
                if len(shape) == 1:
                    f.write(ONE * n)
                    continue
                chunk = 1 << 24
                for start in range(0, n, chunk):
                    f.write(random_bf16(min(chunk, n - start), rng))
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        tok = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "llama2-tokenizer", "tokenizer.model")
        if c["vocab_size"] == 32000 and os.path.exists(tok):
            shutil.copyfile(tok, os.path.join(tmp, "tokenizer.model"))
        os.rename(tmp, a.output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    params = sum(math.prod(s) for _, s in specs)
    print(f"{a.output}: {params / 1e9:.3f} B parameters, {offset / 2**30:.2f} GiB of BF16 weights")


if __name__ == "__main__":
    main()
