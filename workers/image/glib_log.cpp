#include "workers/image/glib_log.h"

#include <mutex>
#include <string>
#include <string_view>

#include <glib.h>

#include "schemas/log.h"

namespace imgpipe::workers::image {
namespace {

log::Level level_of(GLogLevelFlags flags) {
  if ((flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0) return log::Level::error;
  if ((flags & G_LOG_LEVEL_WARNING) != 0) return log::Level::warn;
  if ((flags & G_LOG_LEVEL_MESSAGE) != 0) return log::Level::info;
  return log::Level::debug;  // INFO and DEBUG: libvips' progress chatter
}

void write_line(GLogLevelFlags flags, std::string_view domain, std::string_view message) {
  const auto level = level_of(flags);
  if (!log::enabled(level)) return;
  log::write(level, "glib", {{"domain", domain.empty() ? std::string_view("default") : domain}, {"msg", message}});
}

// g_log() and g_warning() of code built without G_LOG_USE_STRUCTURED
// (libvips): every domain without a handler of its own — VIPS, GLib,
// GLib-GObject, GModule, the NULL default domain — reaches this one.
void on_message(const gchar* domain, GLogLevelFlags flags, const gchar* message, gpointer) {
  write_line(flags, domain != nullptr ? domain : "", message != nullptr ? message : "");
}

std::string_view field_text(const GLogField& f) {
  if (f.value == nullptr) return {};
  const auto* text = static_cast<const char*>(f.value);
  return f.length < 0 ? std::string_view(text) : std::string_view(text, static_cast<size_t>(f.length));
}

// Structured logging (g_log_structured, and g_log_default_handler's own
// forwarding): GLib would otherwise write these to stderr as text.
GLogWriterOutput on_structured(GLogLevelFlags flags, const GLogField* fields, gsize n, gpointer) {
  std::string_view domain, message;
  for (gsize i = 0; i < n; ++i) {
    std::string_view key = fields[i].key != nullptr ? fields[i].key : "";
    if (key == "GLIB_DOMAIN") domain = field_text(fields[i]);
    else if (key == "MESSAGE") message = field_text(fields[i]);
  }
  write_line(flags, domain, message);
  return G_LOG_WRITER_HANDLED;
}

}  // namespace

void route_glib_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_log_set_default_handler(on_message, nullptr);
    g_log_set_writer_func(on_structured, nullptr, nullptr);  // at most once per process, hence the once_flag
  });
}

}  // namespace imgpipe::workers::image
