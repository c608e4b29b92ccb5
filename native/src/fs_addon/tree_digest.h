// peft_fs addon: registers treeDigest (tree_digest.cc) on the module's exports (the module's Init is in scan_dir.cc).
#pragma once
#include <napi.h>

namespace peft_fs {
void InitTreeDigest(Napi::Env env, Napi::Object exports);
}
