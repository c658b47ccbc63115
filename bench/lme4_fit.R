# Time one lme4 model fit; print one JSON object on stdout.
#
# Usage: Rscript lme4_fit.R DATA_DIR DATASET FORMULA REPS
#   DATA_DIR  folder with the CSV files and datasets_meta.json
#   DATASET   key in datasets_meta.json (e.g. insteval)
#   FORMULA   lme4 formula, e.g. "y ~ 1 + service*dept + (1|s) + (1|d)"
#   REPS      timed repetitions after one warm-up fit; 0 = one single timed
#             fit without warm-up (whole-process peak-memory runs)
#
# Fits by ML with lmerControl(calc.derivs = FALSE).  The data are read and
# the factors built (levels in R's order from the meta file) before timing.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[[1]]
dataset <- args[[2]]
form <- as.formula(args[[3]])
reps <- as.integer(args[[4]])

read_dataset <- function(data_dir, name) {
  meta <- fromJSON(file.path(data_dir, "datasets_meta.json"),
                   simplifyVector = FALSE)$datasets[[name]]
  path <- file.path(data_dir, meta$file)
  con <- if (grepl("\\.gz$", path)) gzfile(path) else path
  df <- read.csv(con, colClasses = "character", na.strings = "")
  for (col in meta$columns) {
    x <- df[[col$name]]
    df[[col$name]] <- switch(col$type,
      factor = factor(x, levels = unlist(col$levels)),
      ordered = factor(x, levels = unlist(col$levels), ordered = TRUE),
      integer = as.integer(x),
      as.numeric(x))
  }
  df
}

df <- read_dataset(data_dir, dataset)
ctrl <- lmerControl(calc.derivs = FALSE)
fit_once <- function() lmer(form, data = df, REML = FALSE, control = ctrl)

times <- numeric(0)
if (reps > 0) {
  m <- fit_once()  # warm-up, untimed
  for (i in seq_len(reps)) {
    times[i] <- system.time(m <- fit_once())[["elapsed"]]
  }
} else {
  times[1] <- system.time(m <- fit_once())[["elapsed"]]  # single fit
}

blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) NA_character_)
lapack <- tryCatch(La_library(), error = function(e) NA_character_)
si <- sessionInfo()
out <- list(
  package = "lme4",
  version = as.character(packageVersion("lme4")),
  r_version = R.version.string,
  blas = if (!is.null(si$BLAS)) si$BLAS else blas,
  lapack = if (!is.null(si$LAPACK)) si$LAPACK else lapack,
  times = times,
  median = median(times),
  best = min(times),
  objective = unname(deviance(m)),
  feval = m@optinfo$feval,
  theta = unname(getME(m, "theta")),
  nobs = nobs(m)
)
cat("@@RESULT ", toJSON(out, auto_unbox = TRUE, digits = NA, na = "null"), "\n", sep = "")
