#!/usr/bin/env python3
"""Makes small OPT variants that the shared fixtures do not cover, with reference logits computed
by an independent numpy transcription of Hugging Face's modeling_opt.py (float64):
  opt-postln : do_layer_norm_before = false (OPT-350m style: LayerNorm after each residual, no final LN)
  opt-proj   : word_embed_proj_dim != hidden_size (project_in / project_out), pre-LN
Writes Tests/RuntimeTests/Resources/<name>/{config.json, model.safetensors, reference.safetensors}.
Usage: python3 scripts/reference/opt_variants.py   (numpy only)"""
import json, os, struct
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "../../Tests/RuntimeTests/Resources")

def write_st(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = tensors[name]
        dt = "I32" if a.dtype == np.int32 else "F32"
        b = a.astype(np.int32 if dt == "I32" else np.float32).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b); blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)

def layer_norm(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b

def forward(cfg, p, ids):
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]; hd = C // H; T = len(ids)
    pre = cfg["do_layer_norm_before"]; r = "model.decoder."
    x = p[r + "embed_tokens.weight"][ids]
    if (r + "project_in.weight") in p: x = x @ p[r + "project_in.weight"].T
    x = x + p[r + "embed_positions.weight"][np.arange(T) + 2]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg["num_hidden_layers"]):
        l = f"{r}layers.{i}."
        lin = lambda n, a: a @ p[l + n + ".weight"].T + p[l + n + ".bias"]
        res = x
        h = layer_norm(x, p[l + "self_attn_layer_norm.weight"], p[l + "self_attn_layer_norm.bias"]) if pre else x
        q = lin("self_attn.q_proj", h) * hd ** -0.5; k = lin("self_attn.k_proj", h); v = lin("self_attn.v_proj", h)
        q, k, v = (a.reshape(T, H, hd).transpose(1, 0, 2) for a in (q, k, v))
        s = q @ k.transpose(0, 2, 1) + mask
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(T, C)
        x = res + lin("self_attn.out_proj", o)
        if not pre: x = layer_norm(x, p[l + "self_attn_layer_norm.weight"], p[l + "self_attn_layer_norm.bias"])
        res = x
        h = layer_norm(x, p[l + "final_layer_norm.weight"], p[l + "final_layer_norm.bias"]) if pre else x
        x = res + lin("fc2", np.maximum(lin("fc1", h), 0))
        if not pre: x = layer_norm(x, p[l + "final_layer_norm.weight"], p[l + "final_layer_norm.bias"])
    if pre and not cfg.get("_remove_final_layer_norm", False):
        x = layer_norm(x, p[r + "final_layer_norm.weight"], p[r + "final_layer_norm.bias"])
    if (r + "project_out.weight") in p: x = x @ p[r + "project_out.weight"].T
    return x @ p[r + "embed_tokens.weight"].T

def make(name, pre, proj):
    rng = np.random.default_rng(7 if pre else 11)
    C, F, V, L, P, maxpos = 16, 40, 64, 2, (12 if proj else 16), 32
    cfg = {"model_type": "opt", "architectures": ["OPTForCausalLM"], "hidden_size": C, "ffn_dim": F,
           "vocab_size": V, "num_hidden_layers": L, "num_attention_heads": 4, "max_position_embeddings": maxpos,
           "word_embed_proj_dim": P, "do_layer_norm_before": pre, "activation_function": "relu",
           "enable_bias": True, "tie_word_embeddings": True, "bos_token_id": 2, "eos_token_id": 2}
    g = lambda *s: rng.normal(0, 0.3, s)
    r = "model.decoder."
    p = {r + "embed_tokens.weight": g(V, P), r + "embed_positions.weight": g(maxpos + 2, C)}
    if proj: p[r + "project_in.weight"] = g(C, P); p[r + "project_out.weight"] = g(P, C)
    for i in range(L):
        l = f"{r}layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            p[l + f"self_attn.{n}.weight"] = g(C, C); p[l + f"self_attn.{n}.bias"] = g(C)
        p[l + "fc1.weight"] = g(F, C); p[l + "fc1.bias"] = g(F); p[l + "fc2.weight"] = g(C, F); p[l + "fc2.bias"] = g(C)
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            p[l + n + ".weight"] = 1 + g(C); p[l + n + ".bias"] = g(C)
    if pre: p[r + "final_layer_norm.weight"] = 1 + g(C); p[r + "final_layer_norm.bias"] = g(C)
    p = {k: v.astype(np.float32) for k, v in p.items()}
    ids = rng.integers(0, V, 20).astype(np.int32)
    logits = forward(cfg, {k: v.astype(np.float64) for k, v in p.items()}, ids)
    d = os.path.join(OUT, name); os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    write_st(os.path.join(d, "model.safetensors"), p)
    write_st(os.path.join(d, "reference.safetensors"), {"input_ids": ids, "logits": logits.astype(np.float32)})

make("opt-postln", pre=False, proj=False)
make("opt-proj", pre=True, proj=True)
