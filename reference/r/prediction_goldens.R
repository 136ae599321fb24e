# Regenerates the goldens of the individual prediction (openhsct.decision.prediction) in tests/decision/goldens/.
#
# Run from the repository root:   Rscript reference/r/prediction_goldens.R
#
# Needs R >= 4.2 with the recommended package `survival` (>= 3.5).
#   cox_survival_data.csv    the input: survival::lung complete cases (time in days, status 1 = dead, age,
#                            sex, ph.ecog)
#   cox_survival_newdata.csv three covariate vectors to predict for
#   cox_survival.csv         summary(survfit(coxph(ties = "efron"), newdata, ctype = 1, conf.type = "log-log"),
#                            times): the Breslow baseline with Tsiatis' variance, per row of newdata
suppressPackageStartupMessages(library(survival))

out_dir <- file.path("tests", "decision", "goldens")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
put <- function(df, file) write.csv(df, file.path(out_dir, file), row.names = FALSE, na = "")

lung_df <- survival::lung[, c("time", "status", "age", "sex", "ph.ecog")]
lung_df <- lung_df[complete.cases(lung_df), ]
lung_df$status <- as.integer(lung_df$status == 2)
names(lung_df)[names(lung_df) == "ph.ecog"] <- "ph_ecog"
put(lung_df, "cox_survival_data.csv")

newdata <- data.frame(age = c(50, 62, 75), sex = c(1, 2, 1), ph_ecog = c(0, 1, 2))
put(newdata, "cox_survival_newdata.csv")

fit <- coxph(Surv(time, status) ~ age + sex + ph_ecog, data = lung_df, ties = "efron")
times <- c(30, 100, 200, 365, 500, 700)
rows <- list()
for (i in seq_len(nrow(newdata))) {
  sf <- survfit(fit, newdata = newdata[i, , drop = FALSE], ctype = 1, conf.type = "log-log")
  s <- summary(sf, times = times)
  # summary's std.err is on the survival scale; survfit's own std.err is that of the cumulative hazard
  idx <- findInterval(s$time, sf$time)
  rows[[i]] <- data.frame(row = i - 1, time = s$time, survival = s$surv, std_err = sf$std.err[idx],
                          lower = s$lower, upper = s$upper)
}
put(do.call(rbind, rows), "cox_survival.csv")
