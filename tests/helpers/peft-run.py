# Loads a base model directory with transformers and a LoRA adapter folder with PEFT (PeftModel.from_pretrained,
# unmerged; float32, CPU) and prints JSON: the logits of `ids` ([len(ids), vocab]) and how PEFT wrapped the modules.
# Usage: python3 peft-run.py <model_dir> <adapter_dir> '<json {"ids": [...]}>'
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

model_dir, adapter_dir, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
base = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
model = PeftModel.from_pretrained(base, adapter_dir)
model.eval()
wrapped = sorted(n for n, m in model.named_modules() if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {}))
with torch.no_grad():
    logits = model(torch.tensor([spec["ids"]], dtype=torch.long)).logits[0].tolist()
json.dump({"logits": logits, "wrapped": wrapped, "fan_in_fan_out": model.peft_config["default"].fan_in_fan_out}, sys.stdout)
