# Output folders are all or nothing (cli/output_folder.hpp):
#  1. a run into a new folder writes boxes.json and the overlay;
#  2. a run into the same folder that fails half-way (its second image does not decode) exits 1 and
#     leaves the first run's files byte for byte, with no staging folder left behind;
#  3. a completed run of another image replaces the first run's outputs: the old overlay is gone;
#  4. an output folder that cannot be written is found before the work.
#   -DCLI=<exe> -DMODEL=<safetensors> -DIMG1=<png> -DIMG2=<png> -DBAD=<file> -DWORK=<folder>
set(dir "${WORK}/output_folder")
file(REMOVE_RECURSE "${dir}")
set(common --arch resnet50 --weights ${MODEL} --size 64 --batch 1)

function(run_cli expect_rc regex)
    execute_process(COMMAND ${CLI} localize ${common} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL expect_rc)
        message(FATAL_ERROR "localize ${ARGN}: exit code ${rc}, expected ${expect_rc}\n${out}${err}")
    endif()
    if(NOT "${out}${err}" MATCHES "${regex}")
        message(FATAL_ERROR "localize ${ARGN}: output does not match '${regex}'\n${out}${err}")
    endif()
endfunction()

get_filename_component(stem1 "${IMG1}" NAME_WE)
get_filename_component(stem2 "${IMG2}" NAME_WE)

run_cli(0 "wrote" ${IMG1} --out ${dir})
foreach(f boxes.json ${stem1}.png)
    if(NOT EXISTS "${dir}/${f}")
        message(FATAL_ERROR "run 1 did not write ${f}")
    endif()
endforeach()
file(SHA256 "${dir}/boxes.json" boxes1)
file(SHA256 "${dir}/${stem1}.png" png1)

run_cli(1 "not_an_image\\.png" ${IMG2} ${BAD} --out ${dir})
file(SHA256 "${dir}/boxes.json" boxes_after)
file(SHA256 "${dir}/${stem1}.png" png_after)
if(NOT boxes_after STREQUAL boxes1 OR NOT png_after STREQUAL png1)
    message(FATAL_ERROR "the failed run changed the earlier run's files")
endif()
if(EXISTS "${dir}/${stem2}.png")
    message(FATAL_ERROR "the failed run left its overlay ${stem2}.png beside the earlier run's files")
endif()
file(GLOB leftovers "${dir}/.dualgrad-*")
if(leftovers)
    message(FATAL_ERROR "the failed run left ${leftovers}")
endif()

run_cli(0 "wrote" ${IMG2} --out ${dir})
if(EXISTS "${dir}/${stem1}.png")
    message(FATAL_ERROR "the completed second run left the first run's overlay ${stem1}.png")
endif()
file(READ "${dir}/boxes.json" boxes2)
if(NOT boxes2 MATCHES "${stem2}\\.png" OR boxes2 MATCHES "\"overlay\": \"${stem1}\\.png\"")
    message(FATAL_ERROR "boxes.json is not the second run's:\n${boxes2}")
endif()

# /proc/self exists and is a folder, but no file can be created in it (not even by root).
run_cli(1 "--out '/proc/self': the output folder is not writable" ${IMG1} --out /proc/self)
run_cli(1 "--montage '${dir}': is a folder, not a file" ${IMG1} --out ${dir} --montage ${dir})
