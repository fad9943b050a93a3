// Boost.JSON's implementation, compiled once into a static, position-independent archive that every
// plugin (through patchbay_add_plugin) and the runtime link. Boost.JSON is header-only in Boost 1.81
// as Debian ships it; compiling it once keeps builds fast.
#include <boost/json/src.hpp>
