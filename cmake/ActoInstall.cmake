# cmake/ActoInstall.cmake - install rules (included from the root CMakeLists).
#
# Installs:
#   <includedir>/acto/*.h                  the public headers
#   <libdir>/libacto.so.0.1.0 (+ links)    acto::acto          (shared)
#   <libdir>/libacto.a                     acto::acto_static   (static)
#   <libdir>/pkgconfig/acto.pc             pkg-config --cflags --libs acto
#   <libdir>/cmake/acto/                   find_package(acto)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ACTO_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/acto")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/acto"
    DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
    FILES_MATCHING PATTERN "*.h")

install(TARGETS acto EXPORT actoTargets
    LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
    INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS acto_static EXPORT actoStaticTargets
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# Two export sets: the shared library only needs msgpack from a consumer;
# the static one also needs ck, liburing and Threads at link time.
install(EXPORT actoTargets NAMESPACE acto::
    DESTINATION "${ACTO_CMAKE_INSTALL_DIR}")
install(EXPORT actoStaticTargets NAMESPACE acto::
    DESTINATION "${ACTO_CMAKE_INSTALL_DIR}")

configure_package_config_file(
    "${PROJECT_SOURCE_DIR}/cmake/actoConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/actoConfig.cmake"
    INSTALL_DESTINATION "${ACTO_CMAKE_INSTALL_DIR}")
# 0.x: only the same minor version is compatible.
write_basic_package_version_file(
    "${PROJECT_BINARY_DIR}/actoConfigVersion.cmake"
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
install(FILES
    "${PROJECT_BINARY_DIR}/actoConfig.cmake"
    "${PROJECT_BINARY_DIR}/actoConfigVersion.cmake"
    DESTINATION "${ACTO_CMAKE_INSTALL_DIR}")

# acto.pc.  With relative install dirs the file locates itself through
# ${pcfiledir}, so `cmake --install build --prefix DIR` and DESTDIR work.
set(ACTO_PC_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(ACTO_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(ACTO_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
    set(ACTO_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
    file(RELATIVE_PATH _acto_pc_up "/root/${ACTO_PC_DIR}" "/root")
    string(REGEX REPLACE "/$" "" _acto_pc_up "${_acto_pc_up}")
    set(ACTO_PC_PREFIX "\${pcfiledir}/${_acto_pc_up}")
    set(ACTO_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
    set(ACTO_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(ACTO_PC_REQUIRES "${ACTO_MSGPACK_MODULE_NAME}")
if(NOT ACTO_PC_REQUIRES)
    set(ACTO_PC_REQUIRES msgpack)
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/acto.pc.in"
    "${PROJECT_BINARY_DIR}/acto.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/acto.pc" DESTINATION "${ACTO_PC_DIR}")
