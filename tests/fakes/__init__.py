"""Local fake DNC providers that speak the providers' documented formats, including their error
answers (built to the shared DNC provider reference, section 5 "Design notes for fakes")."""
