# Test registration. Every test has a label and a timeout.
#   unit:        tests/unit/test_*.c      (cmocka, linked against netprobe_core
#                and tests/unit/support/alloc_fail.c)
#   integration: tests/integration/test_*.py (real binary vs real loopback peers)
#   browser:     tests/browser/test_*.py (the dashboard in a real browser)
#   fuzz:        tests/fuzz/fuzz_*.c      (libFuzzer; NETPROBE_FUZZ=ON with clang)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# The one allocator hook (tests/unit/support/alloc_fail.h), in every unit
# test: the linker sends malloc & co. of the test and of netprobe_core to
# its wrappers, which fail on demand. Production code is not changed.
add_library(np_alloc_fail OBJECT ${CMAKE_SOURCE_DIR}/tests/unit/support/alloc_fail.c)
target_compile_options(np_alloc_fail PRIVATE ${NP_WARNINGS})
target_link_libraries(np_alloc_fail PUBLIC PkgConfig::CMOCKA)
set(NP_ALLOC_WRAPPED malloc calloc realloc free strdup strndup aligned_alloc)
list(TRANSFORM NP_ALLOC_WRAPPED PREPEND "-Wl,--wrap=" OUTPUT_VARIABLE NP_ALLOC_WRAP_FLAGS)
target_link_options(np_alloc_fail INTERFACE ${NP_ALLOC_WRAP_FLAGS})

file(GLOB NP_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src IN LISTS NP_UNIT_TESTS)
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_compile_options(${name} PRIVATE ${NP_WARNINGS} -Wno-missing-prototypes)
  target_link_libraries(${name} PRIVATE np_alloc_fail netprobe_core PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()

find_program(PYTHON3 python3 REQUIRED)
# Python unittest files DIR/test_*.py as tests LABEL.<name>, run from DIR
# against the built binary.
function(np_add_python_tests label dir)
  file(GLOB tests CONFIGURE_DEPENDS ${dir}/test_*.py)
  foreach(src IN LISTS tests)
    get_filename_component(name ${src} NAME_WE)
    add_test(NAME ${label}.${name} COMMAND ${PYTHON3} -m unittest -v ${name}
             WORKING_DIRECTORY ${dir})
    set_tests_properties(${label}.${name} PROPERTIES LABELS ${label} TIMEOUT 600
      ENVIRONMENT "NETPROBE_BIN=$<TARGET_FILE:netprobe>;NETPROBE_SOURCE_DIR=${CMAKE_SOURCE_DIR};NETPROBE_BUILD_DIR=${CMAKE_BINARY_DIR}")
  endforeach()
endfunction()
np_add_python_tests(integration ${CMAKE_SOURCE_DIR}/tests/integration)
# the dashboard in Debian's chromium, driven by playwright-core
np_add_python_tests(browser ${CMAKE_SOURCE_DIR}/tests/browser)

if(NETPROBE_FUZZ)
  file(GLOB NP_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  foreach(src IN LISTS NP_FUZZ_TARGETS)
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE netprobe_core)
    set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-work/${name})
    # Replay the checked-in corpus, then fuzz briefly from it.
    add_test(NAME fuzz.${name}
      COMMAND ${name} -max_total_time=20 -timeout=5 -rss_limit_mb=2048
              ${CMAKE_BINARY_DIR}/fuzz-work/${name} ${corpus})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  endforeach()
endif()
