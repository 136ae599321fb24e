# Kaplan-Meier goldens for the inputs that pick each path of openhsct.outcomes.kaplan_meier:
# continuous times (sorting path, with and without ties) and integers beyond the counting span,
# next to integer days with a zero time and a large offset (counting path). The survival goldens in
# survival_goldens.R all have small integer times, so they exercise the counting path only.
#
# Run from the repository root:   Rscript reference/r/km_paths_goldens.R
#
# Needs R >= 4.2 with the recommended package `survival` (>= 3.5). Writes, in
# tests/outcomes/goldens/km_paths/:
#   data_<name>.csv         the input (time, status); times have at most 10 significant digits, so the
#                           CSV text gives the same doubles in R and Python
#   km_<name>_<conf>.csv    survfit(Surv(time, status) ~ 1, conf.type = conf): time, n.risk, n.event,
#                           n.censor, surv, std.err, lower, upper (17 significant digits)
suppressPackageStartupMessages(library(survival))

out_dir <- file.path("tests", "outcomes", "goldens", "km_paths")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
put <- function(df, file) {
  text <- format(df, digits = 17, trim = TRUE, scientific = FALSE)
  text[is.na(df)] <- ""
  write.csv(text, file.path(out_dir, file), row.names = FALSE, quote = FALSE)
}

set.seed(2026)
draw <- function(n, scale, cens_max) {
  t_event <- rexp(n, 1 / scale)
  t_cens <- runif(n, 0, cens_max)
  list(time = pmin(t_event, t_cens), status = as.integer(t_event <= t_cens))
}
continuous <- draw(500, 40, 120)
continuous$time <- round(continuous$time, 6)                 # continuous: no ties
rounded <- draw(600, 40, 120)
rounded$time <- round(rounded$time, 1)                       # continuous with ties
days <- draw(800, 150, 700)
days$time <- ceiling(days$time) + 1e6                        # integer days, large offset
days$time[1:5] <- 1e6
spread <- draw(300, 1, 3)
spread$time <- ceiling(spread$time * 1e5)                    # integers spanning far more than n
censored <- list(time = c(0, 3.25, 3.25, 7.5, 0), status = c(0L, 0L, 0L, 0L, 0L))

data_sets <- list(continuous = continuous, rounded = rounded, days = days, spread = spread,
                  censored = censored)
for (nm in names(data_sets)) {
  d <- as.data.frame(data_sets[[nm]])
  put(d, paste0("data_", nm, ".csv"))
  for (ct in c("log", "log-log", "plain")) {
    fit <- survfit(Surv(time, status) ~ 1, data = d, conf.type = ct)
    put(data.frame(time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
                   n_censor = fit$n.censor, survival = fit$surv, std_err = fit$std.err,
                   lower = fit$lower, upper = fit$upper),
        paste0("km_", nm, "_", ct, ".csv"))
  }
}
