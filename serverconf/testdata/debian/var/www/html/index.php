<?php
echo "Hello from " . gethostname();
