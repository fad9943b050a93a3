// A complete Patchbay plugin: one action, `greet`, declared in manifest.yaml.
#include <patchbay/sdk/plugin.hpp>

namespace sdk = patchbay::sdk;

static sdk::Plugin make_plugin() {
    sdk::Plugin plugin("hello", "1.0.0");
    plugin.action("greet", [](sdk::Call& call, const sdk::json::value& input) -> sdk::Result {
        std::string name = sdk::get_string(input, "name");  // missing/mistyped: INVALID_INPUT
        if (name == "nobody") return sdk::Error::not_found("there is nobody to greet");
        call.log(sdk::LogLevel::info, "greeting", {{"name", name}});
        std::string greeting = sdk::get_string(call.config(), "greeting");
        return sdk::json::object{{"message", greeting + ", " + name + "!"}};
    });
    return plugin;
}

PATCHBAY_PLUGIN(make_plugin)
