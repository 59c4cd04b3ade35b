# CLI tests of maps, localize and eval (included from tests/cli/CMakeLists.txt). Fixtures:
# tests/fixtures/cli (tools/fixtures/make_cli_fixtures.py; fashionloc_mini: 12 FashionLoc test
# samples of seed 7, made by dualgrad_fashionloc) and the bundled model in models/fashionloc.
set(_mini ${_fx}/cli/fashionloc_mini)
set(_rn ${_fx}/models/resnet50.safetensors) # width 1/16, 6 classes, random weights
set(_bundled ${PROJECT_SOURCE_DIR}/models/fashionloc/resnet50.safetensors)

# maps: shapes of every output, several methods and layers (paper alias -> file name with '_').
dualgrad_cli_test(maps 0 "m1\\.dgl\\.group2_block5\\.npy: \\[1, 2, 8, 8\\].*m1\\.gradcam\\.layer3\\.5\\.npy: \\[1, 2, 8, 8\\]"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5,group2/block5 --method dgl,gradcam --target topk:2 --out ${_work}/m1"
                  ${_work}/m1.dgl.layer3.5.npy ${_work}/m1.logits.npy ${_work}/m1.targets.npy)
# --method all: every registered method; cam only at the CAM layer (layer4.2), the others at both.
dualgrad_cli_test(maps_all 0 "m4\\.cam\\.layer4\\.2\\.npy: \\[1, 1, 8, 8\\].*m4\\.eigencam\\.layer3\\.5\\.npy: \\[1, 1, 8, 8\\].*m4\\.eigengradcam\\.layer4\\.2\\.npy.*m4\\.ablationcam\\.layer3\\.5\\.npy: \\[1, 1, 8, 8\\].*m4\\.scorecam\\.layer4\\.2\\.npy: \\[1, 1, 8, 8\\].*m4\\.randomcam\\.layer4\\.2\\.npy"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5,layer4.2 --method all --samples 2 --out ${_work}/m4"
                  ${_work}/m4.eigencam.layer4.2.npy ${_work}/m4.randomcam.layer3.5.npy ${_work}/m4.dgl.layer3.5.npy)
# The methods' settings: IS-CAM's and SS-CAM's samples (2 keeps the --method all tests short), and
# aug_smooth; bad values are refused by the option that carries them.
dualgrad_cli_test(maps_aug_smooth 0 "m5\\.gradcam\\.layer3\\.5\\.npy: \\[1, 1, 8, 8\\]"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method gradcam,sscam --samples 1 --seed 3 --aug-smooth --out ${_work}/m5"
                  ${_work}/m5.sscam.layer3.5.npy)
dualgrad_cli_test(maps_eigen_smooth 0 "m6\\.layercam\\+eigensmooth\\.layer3\\.5\\.npy: \\[1, 1, 8, 8\\]"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method gradcam+eigensmooth,layercam+eigensmooth --out ${_work}/m6"
                  ${_work}/m6.gradcam+eigensmooth.layer3.5.npy)
dualgrad_cli_test(maps_eigen_smooth_dgl 1 "method 'dgl' has no weighted activations"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl+eigensmooth --out ${_work}/bad")
dualgrad_cli_test(maps_bad_noise_std 105 "--noise-std: 'nan' is not a finite number >= 0"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method sscam --noise-std nan --out ${_work}/bad")
dualgrad_cli_test(maps_bad_samples 105 "--samples: Value 5000 not in range 0 to 1000"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method sscam --samples 5000 --out ${_work}/bad")
dualgrad_cli_test(maps_xent 0 "m3\\.layer3\\.5\\.npy: \\[1, 1, 8, 8\\]"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --cost xent --alpha 5 --out ${_work}/m3")
dualgrad_cli_test(maps_cam 0 "m2\\.layer4\\.2\\.npy: \\[1, 1, 8, 8\\]"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer4.2 --method cam --target class:3 --out ${_work}/m2")
dualgrad_cli_test(maps_wrong_dtype 1 "input_float64\\.npy: expected a float32 array of rank 4 \\[N, 3, H, W\\], got float64"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_float64.npy --layers layer3.5 --method dgl --out ${_work}/bad")
dualgrad_cli_test(maps_wrong_rank 1 "input_rank3\\.npy: expected a float32 array of rank 4 \\[N, 3, H, W\\], got float32 of shape \\[3, 64, 64\\]"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_rank3.npy --layers layer3.5 --method dgl --out ${_work}/bad")
dualgrad_cli_test(maps_unknown_layer 1 "unknown layer 'layer9'; valid layers: input, conv1"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer9 --method dgl --out ${_work}/bad")
dualgrad_cli_test(maps_unknown_method 1 "unknown method 'gradcam\\+\\+'; valid methods: cam, gradcam"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method gradcam++ --out ${_work}/bad")
dualgrad_cli_test(maps_cam_elsewhere 1 "method 'cam' is defined at the CAM layer 'layer4\\.2' only, not at 'layer3\\.5'"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method cam --out ${_work}/bad")
dualgrad_cli_test(maps_bad_target 1 "--target: 'top3' is not one of top1, topk:K, class:C, gt:FILE"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --target top3 --out ${_work}/bad")
dualgrad_cli_test(maps_class_out_of_range 1 "names class 7 but the model has 6 classes"
                  "maps --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --target class:7 --out ${_work}/bad")

# localize: the README's main job (bundled model and samples), and explicit images and model.
if(EXISTS ${_bundled})
    dualgrad_cli_test(localize_bundled 0 "class [0-9] [a-z_]+ \\(p = 0\\.[0-9]+\\), box \\([0-9]+, [0-9]+, [0-9]+, [0-9]+\\)"
                      "localize --out ${_work}/loc" ${_work}/loc/boxes.json)
    dualgrad_cli_test(localize_images 0 "0000002\\.png: class 1 trouser"
                      "localize --arch resnet50 --weights ${_bundled} --size 128 --layer layer3.5 --method layercam --class-names ${PROJECT_SOURCE_DIR}/models/fashionloc/class_names.txt ${_mini}/images/test/1_trouser/0000002.png --out ${_work}/loc2"
                      ${_work}/loc2/boxes.json ${_work}/loc2/0000002.png)
endif()
# All-or-nothing output folders: a failed run leaves the earlier one intact (output_folder.cmake).
add_test(NAME cli.localize_output_folder
         COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:dualgrad_cli> -DMODEL=${_rn} -DIMG1=${_mini}/images/test/2_pullover/0000001.png
                 -DIMG2=${_mini}/images/test/9_ankle_boot/0000000.png -DBAD=${_fx}/cli/not_an_image.png -DWORK=${_work}
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/output_folder.cmake)
# A path that is not UTF-8 (byte 0xff in the file name) is written to boxes.json with U+FFFD in its
# place, not refused after the run (nlohmann-json throws on invalid UTF-8 unless told to replace).
add_test(NAME cli.localize_non_utf8_path
         COMMAND sh -c "d='${_work}/non_utf8' && rm -rf \"$d\" && mkdir -p \"$d\" && img=\"$d/$(printf 'bad\\377').png\" && cp '${_mini}/images/test/2_pullover/0000001.png' \"$img\" && '$<TARGET_FILE:dualgrad_cli>' localize --arch resnet50 --weights '${_rn}' --size 64 \"$img\" --out \"$d/out\" && grep -q \"bad$(printf '\\357\\277\\275')\\.png\" \"$d/out/boxes.json\"")
dualgrad_cli_test(localize_many_threads 0 "warning: --threads 4096 is more than this machine's [0-9]+ cores"
                  "localize --arch resnet50 --weights ${_rn} --size 64 --threads 4096 ${_mini}/images/test/2_pullover/0000001.png --out ${_work}/many_threads")
dualgrad_cli_test(localize_missing_image 105 "/nonexistent\\.png"
                  "localize --arch resnet50 --weights ${_rn} /nonexistent.png --out ${_work}/bad")
dualgrad_cli_test(localize_undecodable 1 "not_an_image\\.png.*(decode|unknown image type|corrupt)"
                  "localize --arch resnet50 --weights ${_rn} ${_fx}/cli/not_an_image.png --out ${_work}/bad")
dualgrad_cli_test(localize_half_model 1 "--arch and --weights go together"
                  "localize --arch resnet50 ${_fx}/cli/not_an_image.png --out ${_work}/bad")

# eval: the whole protocol on 12 images; sharded runs merge to exactly the unsharded counts.
if(NOT EXISTS ${_bundled})
    message(STATUS "dualgrad: ${_bundled} missing, the eval CLI tests are skipped")
    return()
endif()
set(_eval_args "--metadata ${_mini}/metadata/test --images ${_mini}/images --arch resnet50 --weights ${_bundled} --layers layer3.5,layer4.2 --methods cam,gradcam,layercam,pcs,dgl --fuse max --no-resize --batch 5 --examples 2 --threads 1")
dualgrad_cli_test(eval 0 "\\| dgl \\| layer3\\.5 \\|.*\\| dgl \\| max\\(layer3\\.5\\+layer4\\.2\\) \\|.*\\[=+\\] 12/12 images"
                  "eval ${_eval_args} --mask-metadata ${_mini}/metadata_masks/test --masks ${_mini}/masks --protocol wsolevaluation,layercam --out ${_work}/ev"
                  ${_work}/ev/wsolevaluation/metrics.json ${_work}/ev/wsolevaluation/table.md
                  ${_work}/ev/wsolevaluation/report.html ${_work}/ev/layercam/report.html)
dualgrad_cli_test(eval_tencrop 0 "12/12 images" "eval ${_eval_args} --tencrop --size 96 --tencrop-resize 128 --out ${_work}/ev10"
                  ${_work}/ev10/metrics.json)
dualgrad_cli_test(eval_all 0 "" "eval ${_eval_args} --out ${_work}/ev_all" ${_work}/ev_all/metrics.json)
dualgrad_cli_test(eval_fuse_one_layer 1 "fusion \\(--fuse mean\\) needs two or more layers; 1 given"
                  "eval --metadata ${_mini}/metadata/test --images ${_mini}/images --arch resnet50 --weights ${_bundled} --layers layer3.5 --fuse mean --out ${_work}/bad_fuse")
dualgrad_cli_test(eval_fuse_unknown 1 "--fuse: 'avg' is not a fusion rule"
                  "eval --metadata ${_mini}/metadata/test --images ${_mini}/images --arch resnet50 --weights ${_bundled} --layers layer3.5,layer4.2 --fuse avg --out ${_work}/bad_fuse")
dualgrad_cli_test(eval_methods_all 0 "\\| eigencam \\| layer3\\.5 \\|.*\\| randomcam \\| layer4\\.2 \\|"
                  "eval --metadata ${_mini}/metadata/test --images ${_mini}/images --arch resnet50 --weights ${_bundled} --layers layer3.5,layer4.2 --methods all --samples 2 --limit 2 --no-resize --batch 2 --threads 1 --out ${_work}/ev_methods_all"
                  ${_work}/ev_methods_all/metrics.json)
# A folder that cannot be written is found before the work (eval reads no image first).
dualgrad_cli_test(eval_out_not_writable 1 "--out '/proc/self': the output folder is not writable" "eval ${_eval_args} --out /proc/self")
dualgrad_cli_test(eval_shard0 0 "6/6 images" "eval ${_eval_args} --shard 0/2 --out ${_work}/ev_s0")
dualgrad_cli_test(eval_shard1 0 "6/6 images" "eval ${_eval_args} --shard 1/2 --out ${_work}/ev_s1")
dualgrad_cli_test(eval_merge 0 "" "merge ${_work}/ev_s0 ${_work}/ev_s1 --out ${_work}/ev_merged" ${_work}/ev_merged/report.html)
set_tests_properties(cli.eval_merge PROPERTIES DEPENDS "cli.eval_shard0;cli.eval_shard1")
add_test(NAME cli.eval_merge_equals_unsharded
         COMMAND ${CMAKE_COMMAND} -DA=${_work}/ev_merged/metrics.json -DB=${_work}/ev_all/metrics.json
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/compare_runs.cmake)
set_tests_properties(cli.eval_merge_equals_unsharded PROPERTIES DEPENDS "cli.eval_merge;cli.eval_all")
# Faithfulness metrics (5 deletion and insertion steps) merge exactly too. Their sums are exact,
# but the maps they rank are float: a batched pass may round an image's map differently with other
# images beside it (GEMM blocking), and a near-tie may swap. One image per pass makes every
# image's numbers the same in the sharded and the unsharded runs.
set(_faith_args "--metadata ${_mini}/metadata/test --images ${_mini}/images --arch resnet50 --weights ${_bundled} --layers layer3.5,layer4.2 --methods cam,gradcam,dgl --fuse max --no-resize --batch 1 --threads 1 --faithfulness all --steps 5")
dualgrad_cli_test(eval_faith_all 0 "\\| dgl \\| max\\(layer3\\.5\\+layer4\\.2\\) \\| [0-9.]+ \\| [0-9.]+ \\| 0\\.[0-9]+ \\| 0\\.[0-9]+ \\| [0-9.]+ \\| 12 \\|"
                  "eval ${_faith_args} --out ${_work}/evf_all" ${_work}/evf_all/metrics.json)
dualgrad_cli_test(eval_faith_shard0 0 "6/6 images" "eval ${_faith_args} --shard 0/2 --out ${_work}/evf_s0")
dualgrad_cli_test(eval_faith_shard1 0 "6/6 images" "eval ${_faith_args} --shard 1/2 --out ${_work}/evf_s1")
dualgrad_cli_test(eval_faith_merge 0 "" "merge ${_work}/evf_s0 ${_work}/evf_s1 --out ${_work}/evf_merged" ${_work}/evf_merged/report.html)
set_tests_properties(cli.eval_faith_merge PROPERTIES DEPENDS "cli.eval_faith_shard0;cli.eval_faith_shard1")
add_test(NAME cli.eval_faith_merge_equals_unsharded
         COMMAND ${CMAKE_COMMAND} -DA=${_work}/evf_merged/metrics.json -DB=${_work}/evf_all/metrics.json -DMIN_FAITHFUL=7
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/compare_runs.cmake)
set_tests_properties(cli.eval_faith_merge_equals_unsharded PROPERTIES DEPENDS "cli.eval_faith_merge;cli.eval_faith_all")
# Without --size the input side recorded in the weights (the bundled model's recipe: 128) is used.
dualgrad_cli_test(eval_recorded_size 0 "\\| centre-box \\| - \\|.*preprocessing: resize to 128 x 128"
                  "eval --metadata ${_mini}/metadata/test --images ${_mini}/images --arch resnet50 --weights ${_bundled} --layers layer3.5 --methods layercam --threads 1 --out ${_work}/ev_size")
# Unbounded or non-finite flags are refused before any work (issue: hostile input).
dualgrad_cli_test(eval_tiny_interval 1 "the CAM threshold interval 1e-09 gives 1e\\+09 thresholds; at most 10000"
                  "eval ${_eval_args} --interval 1e-9 --out ${_work}/bad")
dualgrad_cli_test(localize_huge_size 1 "--size 60000 must be in \\[1, 8192\\]"
                  "localize --arch resnet50 --weights ${_bundled} --size 60000 ${_mini}/images/test/1_trouser/0000002.png --out ${_work}/bad")
dualgrad_cli_test(localize_nan_mean 1 "--mean: value 1 \\(nan\\) is not a finite number"
                  "localize --arch resnet50 --weights ${_bundled} ${_mini}/images/test/1_trouser/0000002.png --mean nan,0.4,0.4 --out ${_work}/bad")
dualgrad_cli_test(eval_nan_alpha 1 "alpha nan is not a finite number" "eval ${_eval_args} --alpha nan --out ${_work}/bad")
dualgrad_cli_test(localize_negative_threads 1 "--threads -1 must not be negative"
                  "localize --arch resnet50 --weights ${_bundled} --threads -1 ${_mini}/images/test/1_trouser/0000002.png --out ${_work}/bad")
dualgrad_cli_test(eval_bad_shard 1 "--shard '3/2': the shard index 3 must be in \\[0, 2\\)" "eval ${_eval_args} --shard 3/2 --out ${_work}/bad")
dualgrad_cli_test(eval_bad_metadata 1 "localization\\.txt:2.*(fields|field)"
                  "eval --metadata ${_fx}/cli/bad_metadata --images ${_mini}/images --arch resnet50 --weights ${_bundled} --out ${_work}/bad")
dualgrad_cli_test(eval_box_outside 1 "localization\\.txt:2.*outside"
                  "eval --metadata ${_fx}/cli/box_outside --images ${_mini}/images --arch resnet50 --weights ${_bundled} --out ${_work}/bad")
dualgrad_cli_test(eval_faithfulness_unknown 1 "--faithfulness: unknown metric 'road' \\(confidence, deletion, insertion, pointing, all\\)"
                  "eval ${_eval_args} --faithfulness deletion,road --out ${_work}/bad")
dualgrad_cli_test(eval_faithfulness_baseline 1 "--insertion-baseline: unknown baseline 'gray' \\(zero or blur\\)"
                  "eval ${_eval_args} --faithfulness insertion --insertion-baseline gray --out ${_work}/bad")
dualgrad_cli_test(eval_faithfulness_steps 1 "--steps 0 must be in \\[1, 100000\\]"
                  "eval ${_eval_args} --faithfulness deletion --steps 0 --out ${_work}/bad")
dualgrad_cli_test(eval_faithfulness_tencrop 1 "the faithfulness metrics perturb one view of each image; 10-crop gives ten"
                  "eval ${_eval_args} --faithfulness pointing --tencrop --out ${_work}/bad")
dualgrad_cli_test(eval_bad_protocol 1 "unknown protocol 'voc'; valid protocols: wsolevaluation, layercam, cam"
                  "eval ${_eval_args} --protocol voc --out ${_work}/bad")

# report.html renders in headless Chromium (Debian's chromium) with no console message.
find_program(DUALGRAD_CHROMIUM NAMES chromium chromium-browser google-chrome)
if(DUALGRAD_CHROMIUM)
    add_test(NAME cli.eval_report_renders
             COMMAND ${CMAKE_COMMAND} -DCHROMIUM=${DUALGRAD_CHROMIUM} -DREPORT=${_work}/ev/wsolevaluation/report.html
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/check_report.cmake)
    set_tests_properties(cli.eval_report_renders PROPERTIES DEPENDS cli.eval)
else()
    message(STATUS "dualgrad: chromium not found, cli.eval_report_renders is skipped")
endif()

# --backend torch: the same maps on LibTorch (same sums of |v| to 4 significant digits as the CPU
# engine; the tests below print them), and a clear error where the CLI has no LibTorch.
if(TARGET dualgrad::torch)
    dualgrad_cli_test(maps_torch 0 "t1\\.layer3\\.5\\.npy: \\[1, 2, 8, 8\\], sum \\|v\\| 0\\.05609"
                      "maps --backend torch --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --target topk:2 --out ${_work}/t1")
    # The perturbation methods need head passes, which only the CPU engine runs.
    dualgrad_cli_test(maps_torch_ablation 1 "ablationcam needs a source that can run the network above the layer"
                      "maps --backend torch --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method ablationcam --out ${_work}/bad")
    dualgrad_cli_test(maps_torch_scorecam 1 "scorecam needs a source that can run forward passes of masked inputs"
                      "maps --backend torch --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method scorecam --out ${_work}/bad")
    # The faithfulness metrics need forward passes of perturbed inputs, which only the CPU engine runs.
    dualgrad_cli_test(eval_torch_faithfulness 1 "need the logits of perturbed inputs, and model 'resnet50' gives none"
                      "eval --backend torch ${_eval_args} --faithfulness confidence --limit 2 --out ${_work}/bad")
    dualgrad_cli_test(maps_cpu_same_sum 0 "c1\\.layer3\\.5\\.npy: \\[1, 2, 8, 8\\], sum \\|v\\| 0\\.05609"
                      "maps --backend cpu --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --target topk:2 --out ${_work}/c1")
else()
    dualgrad_cli_test(maps_torch_missing 1 "built without LibTorch"
                      "maps --backend torch --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --out ${_work}/bad")
endif()
dualgrad_cli_test(maps_unknown_backend 1 "unknown backend 'gpu'; valid: cpu, torch"
                  "maps --backend gpu --arch resnet50 --weights ${_rn} --input ${_fx}/cli/input_1x3x64x64.npy --layers layer3.5 --method dgl --out ${_work}/bad")
