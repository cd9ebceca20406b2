#include "workers/image/jpeg_rewrite.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <memory>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

namespace imgpipe::workers::image::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub{};
  std::jmp_buf jump{};
};

// libjpeg's default error_exit calls exit(): jump back to rewrite_jpeg.
[[noreturn]] void on_error(j_common_ptr c) { std::longjmp(reinterpret_cast<ErrorManager*>(c->err)->jump, 1); }

// Level -1 is a warning about the data (stray bytes, a bad Huffman code, a
// premature end: libjpeg would go on, with grey blocks for the worst).
// Traces (>= 0) are ignored.
void on_message(j_common_ptr c, int level) {
  if (level < 0) on_error(c);
}

// Everything libjpeg holds, released on every path (a longjmp included:
// it lands in the frame that owns this).
struct Session {
  ErrorManager err;
  jpeg_decompress_struct in{};
  jpeg_compress_struct out{};
  bool in_created = false, out_created = false;
  JOCTET* icc = nullptr;
  unsigned int icc_size = 0;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;

  ~Session() {
    if (out_created) jpeg_destroy_compress(&out);
    if (in_created) jpeg_destroy_decompress(&in);
    std::free(icc);
    std::free(buffer);
  }
};

}  // namespace

std::optional<RewrittenJpeg> rewrite_jpeg(std::string_view jpeg) {
  auto s = std::make_unique<Session>();
  s->in.err = jpeg_std_error(&s->err.pub);
  s->out.err = &s->err.pub;
  s->err.pub.error_exit = on_error;
  s->err.pub.emit_message = on_message;
  if (setjmp(s->err.jump)) return std::nullopt;  // libjpeg complained: the full decode decides

  jpeg_create_decompress(&s->in);
  s->in_created = true;
  jpeg_mem_src(&s->in, reinterpret_cast<const unsigned char*>(jpeg.data()), static_cast<unsigned long>(jpeg.size()));
  jpeg_save_markers(&s->in, JPEG_APP0 + 2, 0xFFFF);  // ICC profile chunks; every other marker is dropped
  jpeg_read_header(&s->in, TRUE);
  if (s->in.jpeg_color_space != JCS_YCbCr && s->in.jpeg_color_space != JCS_GRAYSCALE) return std::nullopt;

  jvirt_barray_ptr* coefficients = jpeg_read_coefficients(&s->in);  // every scan, to EOI
  jpeg_read_icc_profile(&s->in, &s->icc, &s->icc_size);

  jpeg_create_compress(&s->out);
  s->out_created = true;
  jpeg_copy_critical_parameters(&s->in, &s->out);  // sampling, quantisation tables: the same coefficients mean the same pixels
  s->out.optimize_coding = FALSE;                  // standard tables, one pass: as the re-encoding path
  jpeg_mem_dest(&s->out, &s->buffer, &s->size);
  jpeg_write_coefficients(&s->out, coefficients);
  if (s->icc != nullptr) jpeg_write_icc_profile(&s->out, s->icc, s->icc_size);
  jpeg_finish_compress(&s->out);  // before finish_decompress: the coefficients live in its pool
  jpeg_finish_decompress(&s->in);

  return RewrittenJpeg{std::string(reinterpret_cast<const char*>(s->buffer), s->size),
                       static_cast<int>(s->in.image_width), static_cast<int>(s->in.image_height)};
}

}  // namespace imgpipe::workers::image::detail
