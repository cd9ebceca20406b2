// llms.txt, llms-full.txt and the /docs pages come from the route docs, the
// error table and the tiers: every published route and every error code is
// in them, each code has its anchor, and the pages load nothing external.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "gateway/docs/reference.h"
#include "gateway/docs/route_docs.h"
#include "schemas/errors.h"

namespace imgpipe::gateway::docs {
namespace {

const std::string kBase = "https://img.example";

TEST(Reference, LlmsTxtHasTitleSummaryAndSectionsOfLinks) {
  auto text = llms_txt(kBase, accounts::default_tiers());
  EXPECT_EQ(text.rfind("# imgpipe\n\n> ", 0), 0u);
  EXPECT_NE(text.find("\n## Docs\n"), std::string::npos);
  EXPECT_NE(text.find("\n## API\n"), std::string::npos);
  for (const auto& d : route_docs())
    if (d.published) {
      EXPECT_NE(text.find(std::string(d.path) + "](" + kBase), std::string::npos) << d.path;
    }
}

TEST(Reference, FullTextHasEveryRouteCodeTierAndCurl) {
  auto tiers = accounts::default_tiers();
  auto text = llms_full_txt(kBase, tiers);
  for (const auto& d : route_docs())
    if (d.published) {
      EXPECT_NE(text.find(std::string(d.summary)), std::string::npos) << d.path;
    }
  for (const auto& e : schemas::error_table()) {
    EXPECT_NE(text.find(std::string(e.code) + " (HTTP " + std::to_string(e.http_status) + ")"), std::string::npos);
    EXPECT_NE(text.find(std::string(e.action_label)), std::string::npos) << e.code;
  }
  for (const auto& [name, plan] : tiers.plans) EXPECT_NE(text.find("- " + name), std::string::npos) << name;
  EXPECT_NE(text.find("curl -F file=@photo.jpg " + kBase + "/v1/upload"), std::string::npos);
}

TEST(Reference, ErrorPageHasAnAnchorPerCodeAndNoExternalAssets) {
  auto html = docs_html("errors", kBase, accounts::default_tiers());
  ASSERT_TRUE(html);
  for (const auto& e : schemas::error_table())
    EXPECT_NE(html->main_html.find("id=\"" + std::string(e.code) + "-" + std::to_string(e.http_status) + "\""), std::string::npos)
        << e.code;
  for (const auto& p : reference_pages(kBase, accounts::default_tiers())) {
    auto page = docs_html(p.slug, kBase, accounts::default_tiers());
    ASSERT_TRUE(page) << p.slug;
    EXPECT_EQ(page->main_html.find("<script"), std::string::npos);
    EXPECT_EQ(page->main_html.find("src=\""), std::string::npos);
    EXPECT_EQ(page->main_html.find("<link"), std::string::npos);
  }
  EXPECT_FALSE(docs_html("nope", kBase, accounts::default_tiers()));
}

// docs/errors.md and /docs/errors are one page in two renderings.
TEST(Reference, ErrorsMarkdownIsTheErrorPage) {
  std::ifstream in("docs/errors.md");
  ASSERT_TRUE(in) << "run from the project root";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), error_reference_markdown()) << "regenerate with: build/imgpipe errors > docs/errors.md";
  auto html = docs_html("errors", kBase, accounts::default_tiers());
  ASSERT_TRUE(html);
  for (const auto& b : error_reference_page().blocks) {
    EXPECT_NE(text.str().find(b.text), std::string::npos) << b.text;
    if (!b.anchor.empty()) {
      EXPECT_NE(text.str().find("<a id=\"" + b.anchor + "\">"), std::string::npos) << b.anchor;
    }
  }
}

TEST(Reference, AgentsPageDescribesMcp) {
  auto text = llms_full_txt(kBase, accounts::default_tiers());
  EXPECT_NE(text.find(kBase + "/mcp"), std::string::npos);
  EXPECT_NE(text.find("2026-07-28"), std::string::npos);
  EXPECT_NE(llms_txt(kBase, accounts::default_tiers()).find("MCP"), std::string::npos);
}

}  // namespace
}  // namespace imgpipe::gateway::docs
