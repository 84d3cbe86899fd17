# Benchmark helpers (included from CMakeLists.txt when this file exists).
# Built by `cmake --build build` like everything else, and by
# bench/http/run.sh, which asks for exactly the targets it runs.

# The bare libmicrohttpd hello world that bench/http/run.sh measures
# netprobe against: the library's own ceiling on this machine.
add_executable(bench_mhd_hello ${CMAKE_SOURCE_DIR}/bench/http/mhd_hello.c)
target_compile_options(bench_mhd_hello PRIVATE ${NP_WARNINGS})
target_link_libraries(bench_mhd_hello PRIVATE PkgConfig::MHD Threads::Threads)
