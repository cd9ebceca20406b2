#pragma once
// GLib's log routed to ours: libvips warns through it (a truncated JPEG,
// a libpng or libjpeg complaint), and so do GLib and GObject themselves.
// Each message becomes one {"event":"glib","domain":...,"msg":...} line.

namespace imgpipe::workers::image {

// Installs the handlers, once per process (later calls do nothing). Call it
// before VIPS_INIT so that nothing libvips says while starting escapes.
void route_glib_log();

}  // namespace imgpipe::workers::image
