// pb_header views of a list of (name, value) string pairs: what http_send takes and what its
// answers carry (ABI v1.3). Short lists are kept inside the object, longer ones on the heap. The
// views point into the strings, which must outlive this object unchanged. Header-only and
// depending on abi.h alone, so the host uses it too.
#pragma once

#include <patchbay/abi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace patchbay::sdk {

class HeaderViews {
public:
    explicit HeaderViews(const std::vector<std::pair<std::string, std::string>>& headers) : size_(headers.size()) {
        if (size_ > kInline) {
            heap_.resize(size_);
            data_ = heap_.data();
        }
        for (size_t i = 0; i < size_; ++i) {
            const auto& [name, value] = headers[i];
            data_[i] = pb_header{pb_str{name.data(), name.size()}, pb_str{value.data(), value.size()}};
        }
    }
    HeaderViews(const HeaderViews&) = delete;
    HeaderViews& operator=(const HeaderViews&) = delete;

    const pb_header* data() const { return data_; }
    uint32_t size() const { return static_cast<uint32_t>(size_); }

private:
    static constexpr size_t kInline = 32;
    size_t size_;
    pb_header inline_[kInline];
    std::vector<pb_header> heap_;
    pb_header* data_ = inline_;
};

}  // namespace patchbay::sdk
