# patchbay_add_plugin(<target> SOURCES <files>... [MANIFEST <manifest.yaml>] [STAGE_DIR <dir>])
#
# Builds a Patchbay connector plugin as a loadable module: C++20, hidden visibility, only the entry
# symbol `patchbay_plugin_entry_v1` exported (enforced by a linker version script), no undefined
# symbols left for the host to provide. With MANIFEST, the manifest and the built library are copied
# side by side into <STAGE_DIR>/<target>/ after every build, ready to be served.
include_guard(GLOBAL)

set(_PATCHBAY_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/plugin.map" CACHE INTERNAL "")

function(patchbay_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "MANIFEST;STAGE_DIR" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "patchbay_add_plugin(${target}): give the plugin's SOURCES")
  endif()
  add_library(${target} MODULE ${arg_SOURCES})
  set_target_properties(${target} PROPERTIES
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    PREFIX "lib")
  target_link_libraries(${target} PRIVATE Patchbay::plugin_api Patchbay::sdk_json)
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${_PATCHBAY_PLUGIN_MAP}"
    "LINKER:-z,defs")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${_PATCHBAY_PLUGIN_MAP}")

  if(arg_MANIFEST)
    if(NOT arg_STAGE_DIR)
      if(DEFINED PATCHBAY_STAGE_MANIFESTS)
        set(arg_STAGE_DIR "${PATCHBAY_STAGE_MANIFESTS}")
      else()
        set(arg_STAGE_DIR "${CMAKE_BINARY_DIR}/manifests")
      endif()
    endif()
    get_filename_component(_manifest "${arg_MANIFEST}" ABSOLUTE)
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${arg_STAGE_DIR}/${target}"
      COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_manifest}" "${arg_STAGE_DIR}/${target}/manifest.yaml"
      COMMAND "${CMAKE_COMMAND}" -E copy_if_different "$<TARGET_FILE:${target}>" "${arg_STAGE_DIR}/${target}/"
      VERBATIM)
  endif()
endfunction()
