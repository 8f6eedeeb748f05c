"""Reading recipient files (CSV, XLS, XLSX) for campaign imports."""
