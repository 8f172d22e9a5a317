#pragma once
// Structured logs: one line per event on stderr in logfmt (`ts=... level=... event=... k=v`),
// UTC timestamps with milliseconds. Call sites write `event=name key=value ...` messages.

#include <string_view>

namespace fp {

void init_logging(std::string_view level);

}  // namespace fp
