# Loads a model directory with Hugging Face transformers (AutoModelForCausalLM, float32, CPU) and prints JSON:
# the logits of `ids` ([len(ids), vocab]) and greedy ids for `n` new tokens after `prompt` (model.generate).
# Usage: python3 transformers-run.py <model_dir> '<json {"ids": [...], "prompt": [...], "n": 16}>'
import json
import sys

import torch
from transformers import AutoModelForCausalLM

model_dir, spec = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
model.eval()
out = {"dtype_loaded": str(next(model.parameters()).dtype)}
with torch.no_grad():
    ids = torch.tensor([spec["ids"]], dtype=torch.long)
    out["logits"] = model(ids).logits[0].tolist()
    prompt = torch.tensor([spec["prompt"]], dtype=torch.long)
    gen = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=spec["n"], do_sample=False, pad_token_id=2)
    out["greedy"] = gen[0, prompt.shape[1]:].tolist()
json.dump(out, sys.stdout)
