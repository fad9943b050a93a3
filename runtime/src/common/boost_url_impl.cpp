// Boost.URL's implementation (header-only in Boost 1.81 as Debian ships it), compiled once.
#include <boost/url/src.hpp>
