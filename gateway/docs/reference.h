#pragma once
// The reference for people and agents, built from the same sources as the
// OpenAPI document (route_docs.cpp, the error table, schemas/api/) and the
// running configuration (tiers): /llms.txt, /llms-full.txt and the /docs
// pages render one model, so the text and the pages say the same thing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/accounts/plans.h"

namespace imgpipe::gateway::docs {

struct Block {
  enum Kind { para, code, item, heading } kind;
  std::string text;
  std::string anchor;  // headings: the id the HTML page gives them
};

struct Page {
  std::string slug;   // "" is the quick start at /docs; others at /docs/<slug>
  std::string title;
  std::string summary;
  std::vector<Block> blocks;
};

// Every page, quick start first.
std::vector<Page> reference_pages(std::string_view base_url, const accounts::TierConfig& tiers);

// llmstxt.org form: title, summary, sections of links.
std::string llms_txt(std::string_view base_url, const accounts::TierConfig& tiers);
// Every page in plain text.
std::string llms_full_txt(std::string_view base_url, const accounts::TierConfig& tiers);
// The error reference, one page for both renderings: /docs/errors (HTML)
// and docs/errors.md (`imgpipe errors`, Markdown, checked by a test).
Page error_reference_page();
std::string markdown_of(const Page& page);
std::string error_reference_markdown();

// /docs/<slug>: its title and the HTML inside the site's <main> (the route
// puts it in the pages' layout); nullopt for an unknown slug. Text renders
// `code` spans and http(s) URLs as links.
struct DocsHtml {
  std::string title;
  std::string main_html;
};
std::optional<DocsHtml> docs_html(std::string_view slug, std::string_view base_url, const accounts::TierConfig& tiers);

}  // namespace imgpipe::gateway::docs
