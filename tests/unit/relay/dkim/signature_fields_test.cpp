#include "relay/dkim/signature_fields.hpp"

#include <gtest/gtest.h>

namespace smarthost::dkim {
namespace {

TEST(DkimTagListTest, ReadsTagsWithFoldingWhiteSpace) {
    const auto tags = parse_tag_list(" v=1;\r\n\ta = rsa-sha256 ; b=ab cd;");
    ASSERT_TRUE(tags);
    ASSERT_EQ(tags->size(), 3u);
    EXPECT_EQ((*tags)[1].name, "a");
    EXPECT_EQ((*tags)[1].value, "rsa-sha256");
    EXPECT_EQ((*tags)[2].value, "ab cd");
}

TEST(DkimTagListTest, RefusesWhatIsNotATagList) {
    EXPECT_FALSE(parse_tag_list("v=1; a"));    // no '='
    EXPECT_FALSE(parse_tag_list("v=1; v=2"));  // duplicate
    EXPECT_TRUE(parse_tag_list("v=1;; a=2"));  // an empty part is skipped
    EXPECT_FALSE(parse_tag_list("1v=1"));      // a name must start with a letter
    EXPECT_FALSE(parse_tag_list(""));
    EXPECT_TRUE(parse_tag_list("v=1;"));
}

constexpr std::string_view k_signature =
    " v=1; a=ed25519-sha256; c=relaxed/simple;\r\n d=Football.Example.com; s=brisbane;"
    " t=1528637909; x=1528999999; l=42;\r\n h=from : to :\r\n subject; bh=2jUS OH9=;\r\n b=/gCr "
    "in==";

TEST(DkimSignatureTest, ReadsEveryTagItUses) {
    const auto signature = parse_signature(k_signature);
    ASSERT_TRUE(signature);
    EXPECT_EQ(signature->algorithm, Algorithm::ed25519_sha256);
    EXPECT_EQ(signature->header_canonicalization, Canonicalization::relaxed);
    EXPECT_EQ(signature->body_canonicalization, Canonicalization::simple);
    EXPECT_EQ(signature->domain, "football.example.com");
    EXPECT_EQ(signature->selector, "brisbane");
    EXPECT_EQ(signature->signed_headers, (std::vector<std::string>{"from", "to", "subject"}));
    EXPECT_EQ(signature->body_hash, "2jUSOH9=");
    EXPECT_EQ(signature->signature, "/gCrin==");
    EXPECT_EQ(signature->body_length, 42u);
    EXPECT_EQ(signature->timestamp, 1528637909);
    EXPECT_EQ(signature->expiration, 1528999999);
}

TEST(DkimSignatureTest, CanonicalizationDefaultsToSimpleAndAloneMeansTheHeader) {
    const auto defaulted = parse_signature("v=1; a=rsa-sha256; d=a.test; s=s; h=From; bh=x; b=y");
    ASSERT_TRUE(defaulted);
    EXPECT_EQ(defaulted->header_canonicalization, Canonicalization::simple);
    EXPECT_EQ(defaulted->body_canonicalization, Canonicalization::simple);
    const auto header_only =
        parse_signature("v=1; a=rsa-sha256; c=relaxed; d=a.test; s=s; h=From; bh=x; b=y");
    ASSERT_TRUE(header_only);
    EXPECT_EQ(header_only->header_canonicalization, Canonicalization::relaxed);
    EXPECT_EQ(header_only->body_canonicalization, Canonicalization::simple);
}

TEST(DkimSignatureTest, RefusesSignaturesItCannotCheck) {
    const std::string base = "a=rsa-sha256; d=a.test; s=s; h=From; bh=x; b=y";
    EXPECT_FALSE(parse_signature(base));            // no v=
    EXPECT_FALSE(parse_signature("v=2; " + base));  // another version
    EXPECT_FALSE(parse_signature("v=1; a=rsa-sha1; d=a.test; s=s; h=From; bh=x; b=y"));
    EXPECT_FALSE(parse_signature("v=1; a=rsa-sha256; d=a.test; s=s; h=To; bh=x; b=y"));  // no From
    EXPECT_FALSE(parse_signature("v=1; a=rsa-sha256; s=s; h=From; bh=x; b=y"));          // no d=
    EXPECT_FALSE(parse_signature("v=1; c=odd/simple; " + base));
    EXPECT_FALSE(parse_signature("v=1; l=-1; " + base));
    EXPECT_TRUE(parse_signature("v=1; " + base));
}

TEST(DkimSignatureTest, SignsEachPresentFieldOnceAndOverSignsFrom) {
    const std::string headers =
        "Received: x\r\nFrom: a@shop.test\r\nTo: b@x.test\r\nTo: c@x.test\r\nSubject: hi\r\n"
        "List-Unsubscribe: <mailto:u@shop.test>\r\nX-Mailer: y\r\n\r\n";
    EXPECT_EQ(headers_to_sign(headers), (std::vector<std::string>{"From", "From", "To", "To",
                                                                  "Subject", "List-Unsubscribe"}));
}

TEST(DkimSignatureTest, SignedFieldsAreTakenFromTheBottomAndMissingOnesAddNothing) {
    const std::string headers = "To: first\r\nFrom:  A \r\nTo: second\r\n\r\n";
    EXPECT_EQ(canonical_signed_headers(headers, {"From", "To", "to", "To", "From", "Cc"},
                                       Canonicalization::relaxed),
              "from:A\r\nto:second\r\nto:first\r\n");
    EXPECT_EQ(canonical_signed_headers(headers, {"to"}, Canonicalization::simple),
              "To: second\r\n");
}

TEST(DkimSignatureTest, ANewSignatureFieldIsFoldedAndEndsWithAnEmptyB) {
    SignatureTemplate t;
    t.algorithm = Algorithm::rsa_sha256;
    t.domain = "shop.example";
    t.selector = "sh2026q4";
    t.signed_headers = headers_to_sign(
        "From: a\r\nTo: b\r\nCc: c\r\nSubject: s\r\nDate: d\r\nMessage-ID: m\r\nReply-To: r\r\n"
        "MIME-Version: 1.0\r\nContent-Type: t\r\nContent-Transfer-Encoding: e\r\n\r\n");
    t.body_hash = std::string(44, 'h');
    t.timestamp = 1796620581;
    t.expiration = 1797225381;
    const auto value = signature_value_without_b(t);
    EXPECT_TRUE(value.starts_with(" v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example;"));
    EXPECT_TRUE(value.ends_with("; b="));
    EXPECT_NE(value.find("x=1797225381;"), std::string::npos);
    const auto field = signature_field(value, std::string(344, 'B'));
    std::size_t start = 0;
    while (start < field.size()) {
        const auto end = field.find("\r\n", start);
        ASSERT_NE(end, std::string::npos);
        EXPECT_LE(end - start, 78u) << field.substr(start, end - start);
        start = end + 2;
    }
    // Read back, it is the same signature.
    const auto read = parse_signature(field.substr(std::string_view("DKIM-Signature:").size()));
    ASSERT_TRUE(read);
    EXPECT_EQ(read->signed_headers, t.signed_headers);
    EXPECT_EQ(read->signature, std::string(344, 'B'));
    EXPECT_EQ(read->body_hash, t.body_hash);
    EXPECT_EQ(read->expiration, t.expiration);
}

TEST(DkimSignatureTest, TheSignatureFieldEntersTheHashWithAnEmptyB) {
    EXPECT_EQ(canonical_signature_field("DKIM-Signature", " v=1; bh=abc;\r\n b=de\r\n f==; t=1",
                                        Canonicalization::relaxed),
              "dkim-signature:v=1; bh=abc; b=; t=1");
    EXPECT_EQ(
        canonical_signature_field("DKIM-Signature", " v=1; b = de f", Canonicalization::simple),
        "DKIM-Signature: v=1; b =");
}

TEST(DkimSignatureTest, AlgorithmNames) {
    EXPECT_STREQ(to_string(Algorithm::ed25519_sha256), "ed25519-sha256");
    EXPECT_EQ(parse_algorithm("RSA-SHA256"), Algorithm::rsa_sha256);
    EXPECT_FALSE(parse_algorithm("rsa-sha1"));
    EXPECT_STREQ(key_type(Algorithm::ed25519_sha256), "ed25519");
}

}  // namespace
}  // namespace smarthost::dkim
