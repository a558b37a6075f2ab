"""Code packaging (zip, ignore files, checksum) and Docker builds."""
