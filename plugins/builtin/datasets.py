"""Built-in plugin: the synthetic dataset families and real-format loaders of mmal.data."""

import mmal

_SYN = "mmal.data.synthetic"
_LOAD = "mmal.data.loaders"


@mmal.hookimpl
def register_datasets(register):
    register("uci-mfeat", "mmal.data.uci:load_uci_mfeat", task="classification", default_task_model="mm-classifier",
             summary="real: UCI Multiple Features, 2,000 handwritten digits in 6 views (fou 76, fac 216, kar 64, pix 240, "
                     "zer 47, mor 6), 10 classes, 1600/400 stratified split; ships with mmal (CC BY 4.0)")
    register("toy", "mmal.data.toy:make_toy", summary="tiny generic synthetic data (task=classification|regression)")
    register("simsv2-synthetic", f"{_SYN}:make_simsv2", task="regression", default_task_model="mtl",
             summary="SIMSv2-style MSA regression: text [50,768], audio [925,25], vision [232,177]; heads M/T/A/V")
    register("cherma-synthetic", f"{_SYN}:make_cherma", task="classification", default_task_model="mtl",
             summary="CHERMA-style 7-emotion classification: text [80,768], audio [L,768], vision [64,512]; heads M/T/A/V")
    register("food101-synthetic", f"{_SYN}:make_food101", task="classification", default_task_model="mm-classifier",
             summary="Food101-style image [2048] + text [40,768] (or tokens), 101 classes; text dominant")
    register("kineticssound-synthetic", f"{_SYN}:make_kinetics_sound", task="classification",
             default_task_model="mm-classifier",
             summary="KineticsSound-style audio [1004,257] + visual [10,512], 31 classes; audio dominant")
    register("vggsound-synthetic", f"{_SYN}:make_vggsound", task="classification", default_task_model="mm-classifier",
             summary="VGGSound-style audio [512] + visual [512] features, 309 classes (180,911 clips); audio dominant")
    register("mmsa", f"{_LOAD}:load_mmsa", task="regression", default_task_model="mtl",
             summary="MMSA feature pickle (SIMS/SIMSv2/MOSI): path=...")
    register("cherma-folder", f"{_LOAD}:load_cherma_folder", task="classification", default_task_model="mtl",
             summary="CHERMA-style folder of per-sample .npy + labels.json: path=...")
    # load_folder's defaults per task (what `mmal bench`'s pre-flight reads; default_task_model_<task> wins)
    register("folder", f"{_LOAD}:load_folder", default_task_model="mm-classifier", default_task_model_regression="mtl",
             summary="generic folder: <modality>.npy + labels.csv (+ split column or splits/): path=...; "
                     "task model mm-classifier (mtl for regression labels)")
