# Helpers shared by every module's CMakeLists.txt.

# kq_module(<name> SOURCES ... DEPS ...): a static library kq_<name> whose public headers live in
# the module folder; consumers include them as "kq_<name>.h" etc.
function(kq_module name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  if(A_SOURCES)
    add_library(kq_${name} STATIC ${A_SOURCES})
    target_include_directories(kq_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(kq_${name} PUBLIC ${A_DEPS})
  else()
    add_library(kq_${name} INTERFACE)
    target_include_directories(kq_${name} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries(kq_${name} INTERFACE ${A_DEPS})
  endif()
endfunction()

# kq_test(<name> SOURCES ... LIBS ... LABEL unit|integration|e2e|fuzz [TIMEOUT s] [ARGS ...]
#         [ENV k=v ...]): one CTest entry per test binary, linked with cmocka and the test support
# library. Tests fail when cmocka reports failures; none is ever skipped.
function(kq_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;LIBS;ARGS;ENV" ${ARGN})
  if(NOT A_LABEL)
    message(FATAL_ERROR "kq_test(${name}): LABEL is required")
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 60)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE kq_test_support ${A_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name} ${A_ARGS})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS ${A_LABEL}
    ENVIRONMENT "KQ_SOURCE_DIR=${CMAKE_SOURCE_DIR};KQ_BINARY_DIR=${CMAKE_BINARY_DIR};${A_ENV}")
endfunction()

# kq_script_test(<name> COMMAND ... LABEL ... [TIMEOUT s]): a test driven by a script (e2e).
function(kq_script_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "COMMAND;ENV" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${A_COMMAND})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS ${A_LABEL}
    ENVIRONMENT "KQ_SOURCE_DIR=${CMAKE_SOURCE_DIR};KQ_BINARY_DIR=${CMAKE_BINARY_DIR};${A_ENV}")
endfunction()

# kq_fuzzer(<name> SOURCES ... LIBS ... CORPUS dir): with KQ_BUILD_FUZZERS a libFuzzer binary;
# always also a replay binary <name>_replay that runs the seed corpus as a `fuzz` CTest entry.
function(kq_fuzzer name)
  cmake_parse_arguments(A "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name}_replay ${A_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_link_libraries(${name}_replay PRIVATE ${A_LIBS})
  add_test(NAME ${name}_replay COMMAND ${name}_replay ${A_CORPUS})
  set_tests_properties(${name}_replay PROPERTIES TIMEOUT 120 LABELS fuzz)
  if(KQ_BUILD_FUZZERS)
    add_executable(${name} ${A_SOURCES})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE ${A_LIBS})
  endif()
endfunction()

# Adds every immediate subfolder of `dir` that has a CMakeLists.txt (so modules' tests can be
# added without editing a shared list).
function(kq_add_subdirs dir)
  file(GLOB children LIST_DIRECTORIES true "${dir}/*")
  list(SORT children)
  foreach(child ${children})
    if(IS_DIRECTORY ${child} AND EXISTS ${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
