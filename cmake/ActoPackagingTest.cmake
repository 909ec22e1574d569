# cmake/ActoPackagingTest.cmake - the `install_consumer` ctest test.
#
# Installs this build into a scratch prefix and builds cmake/consumer/ against
# it twice, through pkg-config and through find_package(acto), then runs the
# programs (see cmake/InstallConsumerTest.cmake).  Label: packaging.
# In sanitizer builds installing is pointless: the test reports itself skipped.
if(ACTO_SANITIZER_FLAGS)
    add_test(NAME install_consumer
        COMMAND "${CMAKE_COMMAND}" -E echo
                "SKIPPED: install_consumer is not run in sanitizer builds (ACTO_SANITIZE=${ACTO_SANITIZE})")
    set_tests_properties(install_consumer PROPERTIES
        LABELS packaging
        SKIP_REGULAR_EXPRESSION "SKIPPED:")
elseif(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    add_test(NAME install_consumer
        COMMAND "${CMAKE_COMMAND}" -E echo
                "SKIPPED: absolute CMAKE_INSTALL_LIBDIR/INCLUDEDIR cannot be installed into a scratch prefix")
    set_tests_properties(install_consumer PROPERTIES
        LABELS packaging
        SKIP_REGULAR_EXPRESSION "SKIPPED:")
else()
    add_test(NAME install_consumer
        COMMAND "${CMAKE_COMMAND}"
            -DACTO_BUILD_DIR=${PROJECT_BINARY_DIR}
            -DACTO_SOURCE_DIR=${PROJECT_SOURCE_DIR}
            -DWORK_DIR=${PROJECT_BINARY_DIR}/install-consumer
            -DCONFIG=$<CONFIG>
            -DLIBDIR=${CMAKE_INSTALL_LIBDIR}
            -DC_COMPILER=${CMAKE_C_COMPILER}
            -P "${PROJECT_SOURCE_DIR}/cmake/InstallConsumerTest.cmake")
    set_tests_properties(install_consumer PROPERTIES
        LABELS packaging
        TIMEOUT 300
        PASS_REGULAR_EXPRESSION "install_consumer: PASS")
endif()
