// peft_fs addon: registers hashFiles (hash_files.cc) on the module's exports (the module's Init is in scan_dir.cc).
#pragma once
#include <napi.h>

namespace peft_fs {
void InitHashFiles(Napi::Env env, Napi::Object exports);
}
