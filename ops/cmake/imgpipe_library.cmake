# One helper for every library target: explicit sources, shared warnings,
# the project root on the include path so headers read "storage/bus.h".
set(IMGPIPE_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wno-unused-parameter)
# GCC 12 at -O3 (the release preset) reports impossible -Wrestrict overlaps
# inside std::string's operator+ (GCC bug 105329); keep it a warning there.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND IMGPIPE_WARNINGS -Wno-error=restrict)
endif()

function(imgpipe_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${IMGPIPE_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

function(imgpipe_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${IMGPIPE_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name}
    PROPERTIES LABELS ${ARG_LABEL}
    DISCOVERY_TIMEOUT 60
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
