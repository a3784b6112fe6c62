//! Log lines on stderr: `<UTC time> <level> <message>`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Logs an informational line.
pub fn info(message: &str) {
    line("info", message);
}

/// Logs a warning: something was refused or failed, the control plane goes on.
pub fn warn(message: &str) {
    line("warn", message);
}

/// Logs an error the control plane cannot work around.
pub fn error(message: &str) {
    line("error", message);
}

fn line(level: &str, message: &str) {
    eprintln!("{} {level} {message}", rfc3339(SystemTime::now()));
}

/// `time` as `2026-01-31T12:34:56.789Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let time = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
        assert_eq!(rfc3339(time), "2000-02-29T00:00:00.123Z");
        let time = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(rfc3339(time), "2026-12-31T23:59:59.000Z");
    }
}
