# cmake/InstallConsumerTest.cmake - run with cmake -P (see ActoPackagingTest.cmake).
#
#   1. cmake --install ACTO_BUILD_DIR --prefix WORK_DIR/prefix
#   2. cc consumer.c $(pkg-config --cflags --libs acto)          -> run it
#      cc consumer.c + libacto.a + $(pkg-config --static --libs)  -> run it
#   3. cmake project cmake/consumer with find_package(acto)       -> run both
#      executables (acto::acto and acto::acto_static)
# Prints "install_consumer: PASS" at the end; any failure is a FATAL_ERROR.
cmake_minimum_required(VERSION 3.16)

foreach(v ACTO_BUILD_DIR ACTO_SOURCE_DIR WORK_DIR LIBDIR C_COMPILER)
    if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
        message(FATAL_ERROR "install_consumer: -D${v}=... is required")
    endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_src "${ACTO_SOURCE_DIR}/cmake/consumer")
set(expect "acto 0\\.1\\.0 consumer: ENOACTOR=\"[^\"]+\", runtime ok, msgpack [0-9]")

# run(<what> COMMAND ...): run a command, fail with its output if it fails;
# its stdout is left in run_out.
function(run what)
    execute_process(${ARGN}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc STREQUAL "0")
        message(FATAL_ERROR "install_consumer: ${what} failed (${rc})\n${out}\n${err}")
    endif()
    set(run_out "${out}" PARENT_SCOPE)
endfunction()

function(check_output what out)
    if(NOT out MATCHES "${expect}")
        message(FATAL_ERROR "install_consumer: ${what}: unexpected output:\n${out}")
    endif()
    message(STATUS "${what}: ${out}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# ---- 1. install -------------------------------------------------------------
set(config_args)
if(CONFIG)
    set(config_args --config "${CONFIG}")
endif()
run("cmake --install"
    COMMAND "${CMAKE_COMMAND}" --install "${ACTO_BUILD_DIR}" --prefix "${prefix}" ${config_args})
foreach(f include/acto/acto.h include/acto/msg.h ${LIBDIR}/libacto.a ${LIBDIR}/libacto.so
          ${LIBDIR}/pkgconfig/acto.pc ${LIBDIR}/cmake/acto/actoConfig.cmake)
    if(NOT EXISTS "${prefix}/${f}")
        message(FATAL_ERROR "install_consumer: ${f} was not installed")
    endif()
endforeach()

# ---- 2. pkg-config --------------------------------------------------------------
find_program(PKG_CONFIG_EXE NAMES pkg-config pkgconf REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")

run("pkg-config --cflags acto"
    COMMAND "${PKG_CONFIG_EXE}" --cflags acto OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(pc_cflags UNIX_COMMAND "${run_out}")
run("pkg-config --libs acto"
    COMMAND "${PKG_CONFIG_EXE}" --libs acto OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(pc_libs UNIX_COMMAND "${run_out}")
run("pkg-config --static --libs acto"
    COMMAND "${PKG_CONFIG_EXE}" --static --libs acto OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(pc_static_libs UNIX_COMMAND "${run_out}")
# Link the archive itself: put libacto.a where -lacto was.
list(TRANSFORM pc_static_libs REPLACE "^-lacto$" "${prefix}/${LIBDIR}/libacto.a")

run("cc (pkg-config, shared)"
    COMMAND "${C_COMPILER}" -std=c17 -Wall -Wextra -Werror ${pc_cflags}
            "${consumer_src}/consumer.c" -o "${WORK_DIR}/consumer_pc" ${pc_libs})
set(ENV{LD_LIBRARY_PATH} "${prefix}/${LIBDIR}")
run("consumer_pc" COMMAND "${WORK_DIR}/consumer_pc")
check_output("pkg-config, shared" "${run_out}")
unset(ENV{LD_LIBRARY_PATH})

run("cc (pkg-config --static)"
    COMMAND "${C_COMPILER}" -std=c17 -Wall -Wextra -Werror ${pc_cflags}
            "${consumer_src}/consumer.c" -o "${WORK_DIR}/consumer_pc_static" ${pc_static_libs})
run("consumer_pc_static" COMMAND "${WORK_DIR}/consumer_pc_static")
check_output("pkg-config, static" "${run_out}")

# ---- 3. find_package(acto) --------------------------------------------------
unset(ENV{PKG_CONFIG_PATH})
run("configure consumer (find_package)"
    COMMAND "${CMAKE_COMMAND}" -S "${consumer_src}" -B "${WORK_DIR}/build"
            "-DCMAKE_PREFIX_PATH=${prefix}"
            "-DCMAKE_C_COMPILER=${C_COMPILER}"
            -DCMAKE_BUILD_TYPE=Release)
run("build consumer (find_package)"
    COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
foreach(exe consumer_shared consumer_static)
    run("${exe}" COMMAND "${WORK_DIR}/build/${exe}")
    check_output("find_package, ${exe}" "${run_out}")
endforeach()

message("install_consumer: PASS")
